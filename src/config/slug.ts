// Names of clients and sources: slugs, as they appear in archive names and storage folders.
import slugify from "@sindresorhus/slugify";

export const MAX_SLUG_LENGTH = 64;

/** The slug of any text ("My Docs" → "my-docs"); "" when nothing usable remains (e.g. "/" or "!!!"). */
export function toSlug(text: string): string {
  return slugify(text, { lowercase: true, separator: "-" });
}

/** True for lowercase ASCII words joined by single dashes, at most 64 characters: the only names allowed on disk and on the wire. */
export function isSlug(text: string): boolean {
  return text.length <= MAX_SLUG_LENGTH && /^[a-z0-9]+(-[a-z0-9]+)*$/.test(text);
}
