// Names of clients and sources: slugs, as they appear in archive names and storage folders.
import type slugifyFunction from "@sindresorhus/slugify";

export const MAX_SLUG_LENGTH = 64;
const SLUG = /^[a-z0-9]+(-[a-z0-9]+)*$/;

let slugify: typeof slugifyFunction | undefined;

/**
 * The slug of any text ("My Docs" → "my-docs"); "" when nothing usable remains (e.g. "/" or "!!!").
 * A slug already ("web01", "www") comes back as it is: slugify, whose transliteration tables cost ~15 MiB and
 * ~10 ms at start, is loaded only for other text (a synchronous require, which the bundle keeps lazy).
 */
export function toSlug(text: string): string {
  if (SLUG.test(text)) return text;
  slugify ??= (require("@sindresorhus/slugify") as { default: typeof slugifyFunction }).default;
  return slugify(text, { lowercase: true, separator: "-" });
}

/** True for lowercase ASCII words joined by single dashes, at most 64 characters: the only names allowed on disk and on the wire. */
export function isSlug(text: string): boolean {
  return text.length <= MAX_SLUG_LENGTH && SLUG.test(text);
}
