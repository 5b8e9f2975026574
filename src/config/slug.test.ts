import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import slugify from "@sindresorhus/slugify";
import { isSlug, toSlug } from "./slug.ts";

describe("toSlug", () => {
  test("lowercases and joins words with dashes", () => {
    expect(toSlug("Web 01")).toBe("web-01");
    expect(toSlug("My Documents")).toBe("my-documents");
    expect(toSlug("Déjà Vu")).toBe("deja-vu");
    expect(toSlug("node.js")).toBe("node-js");
    expect(toSlug(".ssh")).toBe("ssh");
  });

  test("leaves nothing of names without letters or digits", () => {
    expect(toSlug("/")).toBe("");
    expect(toSlug("!!!")).toBe("");
  });

  test("whatever it gives back is a slug, empty, or too long", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (text) => {
        const slug = toSlug(text);
        expect(slug === "" || slug.length > 64 || isSlug(slug)).toBe(true);
      }),
    );
  });

  test("text that is a slug already comes back as slugify would give it (toSlug then skips loading slugify)", () => {
    const word = fc.stringMatching(/^[a-z0-9]{1,12}$/);
    fc.assert(
      fc.property(fc.array(word, { minLength: 1, maxLength: 8 }), (words) => {
        const text = words.join("-");
        expect(toSlug(text)).toBe(text);
        expect(slugify(text, { lowercase: true, separator: "-" })).toBe(text);
      }),
      { numRuns: 500 },
    );
  });
});

describe("isSlug", () => {
  test("accepts lowercase words joined by single dashes, up to 64 characters", () => {
    for (const ok of ["web01", "web-01", "a", "a".repeat(64), "0-9-z"]) expect(isSlug(ok)).toBe(true);
  });

  test("refuses what could escape or confuse a storage path", () => {
    for (const bad of ["", "Web01", "-a", "a-", "a--b", "a_b", "a.b", "../x", "a/b", "a".repeat(65), "é"]) expect(isSlug(bad)).toBe(false);
  });
});
