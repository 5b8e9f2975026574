// A receipt's digest of the file: one kind or the other, compared kind to kind, kept in one text column.
import { expect, test } from "bun:test";
import { digestOf, digestsOf, digestText, parseDigest, sameDigest } from "./file-digest.ts";

const P = "a".repeat(64);
const F = "b".repeat(64);

test("a receipt's digest matches only the same kind with the same value; a scanned archive's pair matches either", () => {
  expect(sameDigest({ piecesSha256: P }, { piecesSha256: P })).toBe(true);
  expect(sameDigest({ fileSha256: F }, { fileSha256: F })).toBe(true);
  expect(sameDigest({ piecesSha256: P }, { fileSha256: P })).toBe(false);
  expect(sameDigest({ fileSha256: F }, { piecesSha256: F })).toBe(false);
  expect(sameDigest({ fileSha256: F }, { piecesSha256: P, fileSha256: F })).toBe(true);
  expect(sameDigest({ piecesSha256: P }, { piecesSha256: P, fileSha256: F })).toBe(true);
  expect(sameDigest({}, {})).toBe(false);
});

test("digestOf keeps one (the pieces digest first), digestsOf both, neither leaves an undefined key", () => {
  expect(digestOf({ piecesSha256: P, fileSha256: F })).toEqual({ piecesSha256: P });
  expect(Object.keys(digestOf({ fileSha256: F }))).toEqual(["fileSha256"]);
  expect(Object.keys(digestsOf({ piecesSha256: P }))).toEqual(["piecesSha256"]);
  expect(digestsOf({ piecesSha256: P, fileSha256: F })).toEqual({ piecesSha256: P, fileSha256: F });
});

test("the index's text column: a bare hex (as stores before the pieces digest hold) is a whole-file SHA-256", () => {
  for (const d of [{ piecesSha256: P }, { fileSha256: F }, { piecesSha256: P, fileSha256: F }])
    expect(parseDigest(digestText(d))).toEqual(d);
  expect(parseDigest(F)).toEqual({ fileSha256: F });
});
