// The pieces digest (PROTOCOL.md §7.3): the formula, members after fillers of either format, and the whole-file SHA-256 of older receipts.
import { describe, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { deflateRaw, zstdFrame } from "../io/compress.ts";
import { piecesDigestOf } from "../testing/pieces-digest-of.ts";
import { encodeFillers } from "./filler.ts";
import { encodeGzipMember } from "./gzip-member.ts";
import { EMPTY_SHA256, FileDigestHasher, pieceOf, PiecesHasher } from "./pieces-digest.ts";
import { encodeZstdMember } from "./zstd-member.ts";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest();
const u64 = (n: number) => {
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(BigInt(n));
  return out;
};

/** An archive's spans, each the fillers before a member then the member: the second and the fourth after fillers. */
function spans(format: "tar.gz" | "tar.zst"): { fillers: Uint8Array; member: Uint8Array }[] {
  const encode = (raw: Uint8Array) => (format === "tar.gz" ? encodeGzipMember(raw, deflateRaw) : encodeZstdMember(raw, zstdFrame));
  return [0, 4093, 0, 70_000].map((gap, i) => ({
    fillers: encodeFillers(gap, format),
    member: encode(new Uint8Array(randomBytes(3000 + i))),
  }));
}

describe("the pieces digest", () => {
  for (const format of ["tar.gz", "tar.zst"] as const) {
    test(`${format}: SHA-256 of the label and, per member, u64be F, SHA-256(fillers), u64be M, SHA-256(member)`, () => {
      const parts = spans(format);
      const byHand = createHash("sha256").update("hashrelay/1 pieces");
      for (const { fillers, member } of parts)
        byHand.update(u64(fillers.length)).update(sha(fillers)).update(u64(member.length)).update(sha(member));
      const expected = byHand.digest("hex");
      // from lengths and hashes alone (the server at commit)
      const declared = new PiecesHasher();
      for (const { fillers, member } of parts)
        declared.add(pieceOf(fillers), { length: member.length, sha256: new Uint8Array(sha(member)) });
      expect(declared.digest()).toBe(expected);
      // from the spans a fetch sends, fillers found by parsing (a restoring client)
      const fetched = new FileDigestHasher({ piecesSha256: "" });
      for (const { fillers, member } of parts) fetched.add(Buffer.concat([fillers, member]));
      expect(fetched.result()).toEqual({ piecesSha256: expected });
      // from the file, in one pass (anyone holding it)
      if (format === "tar.gz") expect(piecesDigestOf(Buffer.concat(parts.flatMap((p) => [p.fillers, p.member])))).toBe(expected);
    });
  }

  test("a member with no fillers before it counts zero bytes of SHA-256(nothing); the file's bytes alone do not give the digest", () => {
    expect(Buffer.from(EMPTY_SHA256).toString("hex")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const parts = spans("tar.gz");
    const file = Buffer.concat(parts.flatMap((p) => [p.fillers, p.member]));
    expect(piecesDigestOf(file)).not.toBe(sha(file).toString("hex"));
  });

  test("for a receipt made before it, FileDigestHasher computes the SHA-256 of the whole file", () => {
    const parts = spans("tar.gz");
    const whole = new FileDigestHasher({ fileSha256: "" });
    for (const { fillers, member } of parts) whole.add(Buffer.concat([fillers, member]));
    expect(whole.result()).toEqual({ fileSha256: sha(Buffer.concat(parts.flatMap((p) => [p.fillers, p.member]))).toString("hex") });
  });
});
