import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { BlockIndex, blocksOf, deltaPieces } from "./chunk-delta.ts";
import { applyContextDelta, decodeContextDelta, encodeContextDelta } from "./context-delta.ts";
import { piecesOfRaw, withOldHeaders } from "./old-headers.ts";
import { encodeTarHeader, type TarEntry } from "./tar.ts";

const entry = (size: number, mtime: number): TarEntry => ({
  path: "etc/app.conf",
  type: "file",
  mode: 0o644,
  uid: 0,
  gid: 0,
  uname: "root",
  gname: "root",
  size,
  mtime,
});
const sha = (bytes: Uint8Array) => new Uint8Array(createHash("sha256").update(bytes).digest());
const text = (lines: number, seed: number) =>
  new TextEncoder().encode(Array.from({ length: lines }, (_, i) => `key.${seed}.${i} = ${(i * 7919 + seed) % 10007}\n`).join(""));

/** A chunk: 8 KiB of text, the header of etc/app.conf at offset 8,192 with `size` and `mtime`, then text. */
function chunk(size: number, mtime: number): Uint8Array {
  const before = text(1000, 1).subarray(0, 8192);
  const after = text(1000, 2).subarray(0, 8192);
  const out = new Uint8Array(8192 + 512 + 8192);
  out.set(before);
  out.set(encodeTarHeader(entry(size, mtime)), 8192);
  out.set(after, 8192 + 512);
  return out;
}

describe("old headers", () => {
  test("the header rewritten with the old size and mtime is the header the entry had, checksum included", () => {
    const raw = chunk(9, 1_700_000_999);
    expect(withOldHeaders(raw, [{ at: 8192, size: 8, mtime: 1_700_000_000 }])).toEqual(chunk(8, 1_700_000_000));
    expect(withOldHeaders(raw, [{ at: 8192, size: 9, mtime: 1_700_000_999 }])).toBeNull();
  });

  test("written into a caller's buffer: the same bytes, a view of that buffer, whatever it held before", () => {
    const raw = chunk(9, 1_700_000_999);
    const into = new Uint8Array(raw.length + 4096).fill(0xa5);
    const patched = withOldHeaders(raw, [{ at: 8192, size: 8, mtime: 1_700_000_000 }], into)!;
    expect(patched).toEqual(chunk(8, 1_700_000_000));
    expect(patched.buffer).toBe(into.buffer);
    expect(withOldHeaders(raw, [{ at: 8192, size: 9, mtime: 1_700_000_999 }], into)).toBeNull();
    // a longer chunk patched before leaves nothing in the view of a shorter one
    expect(withOldHeaders(raw.subarray(0, 8192 + 512), [{ at: 8192, size: 8, mtime: 1_700_000_000 }], into)).toEqual(
      chunk(8, 1_700_000_000).subarray(0, 8192 + 512),
    );
  });

  test("an mtime-only change: the delta copies the old chunk but for the header's moved bytes, and rebuilds byte for byte", () => {
    const old = chunk(8192, 1_700_000_000);
    const raw = chunk(8192, 1_700_000_999);
    const oldId = sha(old);
    const index = new BlockIndex([blocksOf(oldId, old)]);
    const plain = encodeContextDelta(raw, deltaPieces(blocksOf(sha(raw), raw), index).pieces);
    const patched = withOldHeaders(raw, [{ at: 8192, size: 8192, mtime: 1_700_000_000 }])!;
    const pieces = piecesOfRaw(deltaPieces(blocksOf(sha(raw), patched), index).pieces, raw, patched);
    const literal = pieces.flatMap((p) => ("literal" in p ? [p.literal] : []));
    // mtime and checksum: 20 bytes at most, one run
    expect(literal.length).toBe(1);
    expect(literal[0]!.length).toBeLessThanOrEqual(20);
    const body = encodeContextDelta(raw, pieces);
    expect(body.length).toBeLessThan(100);
    expect(body.length).toBeLessThan(plain.length / 2);
    const rebuilt = applyContextDelta(decodeContextDelta(body, raw.length), raw.length, (id) =>
      sha(old).every((b, i) => b === id[i]) ? old : null,
    );
    expect(rebuilt).toEqual(raw);
  });
});
