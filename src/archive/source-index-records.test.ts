// The source index records: chunk, block and id records round-trip; segments front-code and decode back; headers refuse other files.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { ArchiveIdHasher, archiveIdOf } from "./manifest.ts";
import {
  CHUNK_RECORD_BYTES,
  INDEX_HEADER_BYTES,
  SegmentDecoder,
  SegmentEncoder,
  decodeBlockRecords,
  decodeChunkRecord,
  decodeIndexHeader,
  encodeBlockRecords,
  encodeChunkRecord,
  encodeIndexHeader,
  hashChunkRecords,
} from "./source-index-records.ts";
import type { Segment } from "./stream-map.ts";

const id = (n: number) => new Uint8Array(32).fill(n & 0xff).map((b, i) => (b + i * 7) & 0xff);

describe("source index records", () => {
  test("chunk records round-trip (u64 fields past 2^32 included) and hash to the archive id of their manifest", () => {
    const chunks = [
      { id: id(1), rawLength: 65_536, blocks: 70, start: 0, firstBlock: 0 },
      { id: id(2), rawLength: 262_144, blocks: 1, start: 2 ** 40 + 3, firstBlock: 2 ** 33 + 1 },
    ];
    const bytes = new Uint8Array(CHUNK_RECORD_BYTES * chunks.length);
    chunks.forEach((c, i) => encodeChunkRecord(bytes, i * CHUNK_RECORD_BYTES, c));
    expect(chunks.map((_, i) => decodeChunkRecord(bytes, i * CHUNK_RECORD_BYTES))).toEqual(chunks);
    const hasher = new ArchiveIdHasher();
    hashChunkRecords(bytes, hasher);
    expect(hasher.digest()).toBe(archiveIdOf(chunks));
  });

  test("block records keep 52-bit keys and lengths exactly", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 1, max: 4096 }), fc.integer({ min: 0, max: 2 ** 52 - 1 }))), (blocks) => {
        const lengths = Uint16Array.from(blocks, ([l]) => l);
        const keys = Float64Array.from(blocks, ([, k]) => k);
        expect(decodeBlockRecords(encodeBlockRecords(lengths, keys))).toEqual({ lengths, keys });
      }),
    );
  });

  test("segments front-code their paths and decode back in order, with their header's size and mtime when recorded", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.uint8Array({ minLength: 1, maxLength: 300 }),
            fc.uint8Array({ minLength: 16, maxLength: 16 }),
            fc.maxSafeNat(),
            fc.option(fc.record({ size: fc.maxSafeNat(), mtime: fc.maxSafeInteger() }), { nil: undefined }),
          ),
        ),
        (list) => {
          const segments: Segment[] = list.map(([path, key, length, header]) => ({ path, key, length, ...(header && { header }) }));
          const encoder = new SegmentEncoder();
          const bytes = Buffer.concat(segments.map((s) => encoder.encode(s).slice()));
          let at = 0;
          const decoder = new SegmentDecoder({ bytes, take: (n) => (at + n <= bytes.length ? (at += n) - n : -1) });
          const back = [];
          for (let s = decoder.next(); s; s = decoder.next())
            back.push({ path: s.path.slice(), key: s.key.slice(), length: s.length, ...(s.header && { header: { ...s.header } }) });
          expect(back).toEqual(
            segments.map((s) => ({
              path: new Uint8Array(s.path),
              key: new Uint8Array(s.key),
              length: s.length,
              ...(s.header && { header: s.header }),
            })),
          );
        },
      ),
    );
  });

  test("the decoder reuses its objects: one segment, one header, one path view per length", () => {
    const encoder = new SegmentEncoder();
    const utf8 = new TextEncoder();
    const records = ["a/b", "a/c", "a/dd", "a/e"].map((p, i) =>
      encoder.encode({ path: utf8.encode(p), key: new Uint8Array(16).fill(i), length: i, header: { size: i, mtime: i } }).slice(),
    );
    const bytes = Buffer.concat(records);
    let at = 0;
    const decoder = new SegmentDecoder({ bytes, take: (n) => (at + n <= bytes.length ? (at += n) - n : -1) });
    const seen: { s: Segment; path: Uint8Array; header: Segment["header"] }[] = [];
    for (let s = decoder.next(); s; s = decoder.next()) seen.push({ s, path: s.path, header: s.header });
    expect(seen.every(({ s }) => s === seen[0]!.s)).toBe(true);
    expect(seen.every(({ header }) => header === seen[0]!.header)).toBe(true);
    expect(seen.map(({ path }) => path === seen[0]!.path)).toEqual([true, true, false, true]);
    expect(new TextDecoder().decode(seen[3]!.path)).toBe("a/e");
  });

  test("a header names its kind, version and archive; another kind is refused", () => {
    const archiveId = "ab".repeat(32);
    const header = encodeIndexHeader({ kind: "chunks", archiveId, recordsSha256: new Uint8Array(32).fill(9), count: 2 ** 35 });
    expect(header.length).toBe(INDEX_HEADER_BYTES);
    expect(decodeIndexHeader(header, "chunks")).toEqual({
      kind: "chunks",
      archiveId,
      recordsSha256: new Uint8Array(32).fill(9),
      count: 2 ** 35,
    });
    expect(decodeIndexHeader(header, "blocks")).toBeNull();
    const otherVersion = header.slice();
    otherVersion[7] = 1; // version 1 segments lack their header's size and mtime
    expect(decodeIndexHeader(otherVersion, "chunks")).toBeNull();
    expect(decodeIndexHeader(header.subarray(0, 40), "chunks")).toBeNull();
  });
});
