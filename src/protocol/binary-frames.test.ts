// Binary payloads: manifest pages, need bitmaps and chunks round-trip, and every malformed length is refused.
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";
import fc from "fast-check";
import { HashRelayError } from "../errors.ts";
import { CHUNK_MAX, MANIFEST_PAGE_ENTRIES, MAX_CHUNKS_PER_ARCHIVE } from "./constants.ts";
import {
  decodeChunkPayload,
  decodeFetchedChunk,
  decodeManifestPage,
  decodeNeed,
  encodeChunkPayload,
  encodeManifestPage,
  encodeNeed,
  manifestPages,
  MAX_CHUNK_MEMBER,
  type ManifestEntry,
} from "./binary-frames.ts";

const entryArb = fc.record({
  id: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  rawLength: fc.integer({ min: 1, max: CHUNK_MAX }),
});

function badFrame(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(HashRelayError);
    expect((err as HashRelayError).code).toBe("BAD_FRAME");
    return (err as HashRelayError).message;
  }
  throw new Error("expected BAD_FRAME");
}

function u32(...values: number[]): number[] {
  return values.flatMap((v) => [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255]);
}

describe("manifest pages", () => {
  test("round-trip, with the documented layout", () => {
    fc.assert(
      fc.property(fc.array(entryArb, { minLength: 1, maxLength: 50 }), fc.integer({ min: 0, max: 100 }), (entries, page) => {
        const firstIndex = page * MANIFEST_PAGE_ENTRIES;
        const bytes = encodeManifestPage({ firstIndex, entries });
        expect(bytes.length).toBe(4 + 36 * entries.length);
        expect([...bytes.subarray(0, 4)]).toEqual(u32(firstIndex));
        expect([...bytes.subarray(36, 40)]).toEqual(u32(entries[0]!.rawLength));
        expect(decodeManifestPage(bytes)).toEqual({ firstIndex, entries });
      }),
      { numRuns: 100 },
    );
  });

  test("malformed pages are refused", () => {
    const id = new Array(32).fill(7);
    expect(badFrame(() => decodeManifestPage(new Uint8Array(3)))).toContain("not 4 + a multiple of 36");
    expect(badFrame(() => decodeManifestPage(Uint8Array.from([...u32(0), ...id, ...u32(5), 1])))).toContain("multiple");
    expect(badFrame(() => decodeManifestPage(Uint8Array.from(u32(0))))).toContain("0 entries");
    expect(badFrame(() => decodeManifestPage(Uint8Array.from([...u32(0), ...id, ...u32(0)])))).toContain("0 raw bytes");
    expect(badFrame(() => decodeManifestPage(Uint8Array.from([...u32(0), ...id, ...u32(CHUNK_MAX + 1)])))).toContain("raw bytes");
    const tooMany = new Uint8Array(4 + 36 * (MANIFEST_PAGE_ENTRIES + 1));
    expect(badFrame(() => decodeManifestPage(tooMany))).toContain(`${MANIFEST_PAGE_ENTRIES + 1} entries`);
    expect(badFrame(() => decodeManifestPage(Uint8Array.from([...u32(MAX_CHUNKS_PER_ARCHIVE), ...id, ...u32(5)])))).toContain(
      `outside 0..${MAX_CHUNKS_PER_ARCHIVE}`,
    );
  });

  test("manifestPages cuts full pages then the remainder", () => {
    const entries: ManifestEntry[] = Array.from({ length: MANIFEST_PAGE_ENTRIES + 3 }, (_, i) => ({
      id: new Uint8Array(32).fill(i & 255),
      rawLength: 1000 + i,
    }));
    const pages = manifestPages(entries);
    expect(pages.map((p) => [p.firstIndex, p.entries.length])).toEqual([
      [0, MANIFEST_PAGE_ENTRIES],
      [MANIFEST_PAGE_ENTRIES, 3],
    ]);
    expect(manifestPages([])).toEqual([]);
  });
});

describe("need bitmaps", () => {
  test("round-trip; bit i, most significant first, means index firstIndex + i", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }),
        fc.integer({ min: 0, max: 20 }),
        fc.array(fc.boolean(), { maxLength: 300 }),
        (count, page, flags) => {
          const firstIndex = page * MANIFEST_PAGE_ENTRIES;
          const needed = flags.slice(0, count).flatMap((on, i) => (on ? [firstIndex + i] : []));
          const bytes = encodeNeed({ firstIndex, count, needed });
          expect(bytes.length).toBe(8 + Math.ceil(count / 8));
          expect(decodeNeed(bytes)).toEqual({ firstIndex, count, needed });
        },
      ),
      { numRuns: 200 },
    );
    expect([...encodeNeed({ firstIndex: 0, count: 10, needed: [0, 9] })]).toEqual([...u32(0, 10), 0x80, 0x40]);
  });

  test("malformed needs are refused", () => {
    expect(badFrame(() => decodeNeed(new Uint8Array(7)))).toContain("shorter");
    expect(badFrame(() => decodeNeed(Uint8Array.from([...u32(0, 10), 0xff])))).toContain("expected 10");
    expect(badFrame(() => decodeNeed(Uint8Array.from([...u32(0, 10), 0xff, 0xc0, 0])))).toContain("expected 10");
    expect(badFrame(() => decodeNeed(Uint8Array.from([...u32(0, 10), 0xff, 0xe0])))).toContain("padding bit 10");
    expect(badFrame(() => decodeNeed(Uint8Array.from(u32(0, 0))))).toContain("0 entries");
  });
});

// docs/ARCHITECTURE.md (page windows): a client flushes a page when its members reach 8 MiB, so pages are usually far
// smaller than MANIFEST_PAGE_ENTRIES and start wherever the previous page ended (the receiver's state,
// not the codec, checks that a page follows the previous one).
describe("pages of any size, back to back", () => {
  test("a manifest page may start at any index below the chunk limit", () => {
    const id = new Uint8Array(32).fill(7);
    for (const firstIndex of [1, 300, MANIFEST_PAGE_ENTRIES + 5, MAX_CHUNKS_PER_ARCHIVE - 1]) {
      const page = { firstIndex, entries: [{ id, rawLength: 5 }] };
      expect(decodeManifestPage(encodeManifestPage(page))).toEqual(page);
    }
  });

  test("a need may answer such a page", () => {
    expect(decodeNeed(Uint8Array.from([...u32(300, 3), 0xa0]))).toEqual({ firstIndex: 300, count: 3, needed: [300, 302] });
    expect([...encodeNeed({ firstIndex: 300, count: 3, needed: [300, 302] })]).toEqual([...u32(300, 3), 0xa0]);
  });

  test("a page or need past the chunk limit is still refused", () => {
    const id = new Array(32).fill(7);
    const twoAtTheEnd = Uint8Array.from([...u32(MAX_CHUNKS_PER_ARCHIVE - 1), ...id, ...u32(5), ...id, ...u32(5)]);
    expect(badFrame(() => decodeManifestPage(twoAtTheEnd))).toContain(`outside 0..${MAX_CHUNKS_PER_ARCHIVE}`);
    expect(badFrame(() => decodeNeed(Uint8Array.from([...u32(MAX_CHUNKS_PER_ARCHIVE - 1, 2), 0])))).toContain(
      `outside 0..${MAX_CHUNKS_PER_ARCHIVE}`,
    );
    expect(() =>
      encodeManifestPage({
        firstIndex: MAX_CHUNKS_PER_ARCHIVE - 1,
        entries: [
          { id: new Uint8Array(32), rawLength: 5 },
          { id: new Uint8Array(32), rawLength: 5 },
        ],
      }),
    ).toThrow(`outside 0..${MAX_CHUNKS_PER_ARCHIVE}`);
  });
});

describe("chunk payloads", () => {
  const member = new Uint8Array(gzipSync(Buffer.from("hello, chunk"), { level: 6 }));

  test("round-trip: u32 index then the gzip member", () => {
    const bytes = encodeChunkPayload({ index: 70000, member });
    expect([...bytes.subarray(0, 4)]).toEqual(u32(70000));
    const back = decodeChunkPayload(bytes);
    expect(back.index).toBe(70000);
    expect(back.member).toEqual(member);
  });

  test("an incompressible CHUNK_MAX chunk still fits a chunk frame", () => {
    const raw = new Uint8Array(CHUNK_MAX);
    for (let i = 0; i < raw.length; i += 32) raw.set(createHash("sha256").update(String(i)).digest().subarray(0, 32), i);
    const big = new Uint8Array(gzipSync(raw, { level: 9 }));
    expect(big.length).toBeLessThanOrEqual(MAX_CHUNK_MEMBER);
    expect(decodeChunkPayload(encodeChunkPayload({ index: 0, member: big })).member.length).toBe(big.length);
  });

  test("malformed chunks are refused", () => {
    expect(badFrame(() => decodeChunkPayload(new Uint8Array(3)))).toContain("shorter");
    expect(badFrame(() => decodeChunkPayload(Uint8Array.from([...u32(0), 0x1f, 0x8b])))).toContain("member is 2 bytes");
    const notGzip = Uint8Array.from([...u32(0), ...new Array(30).fill(0x42)]);
    expect(badFrame(() => decodeChunkPayload(notGzip))).toContain("not a gzip or zstd member");
    const huge = new Uint8Array(4 + MAX_CHUNK_MEMBER + 1);
    huge.set(member, 4);
    expect(badFrame(() => decodeChunkPayload(huge))).toContain("member is");
    expect(badFrame(() => decodeChunkPayload(Uint8Array.from([...u32(MAX_CHUNKS_PER_ARCHIVE), ...member])))).toContain("past the limit");
  });

  test("a fetched member may follow a zstd filler (§8.3); an uploaded one may not; both keep the bound", () => {
    const behindFiller = Uint8Array.from([
      ...u32(3),
      0x5f,
      0x2a,
      0x4d,
      0x18,
      2,
      0,
      0,
      0,
      0x48,
      0x46,
      0x5e,
      0x2a,
      0x4d,
      0x18,
      ...new Array(20).fill(0),
    ]);
    expect(decodeFetchedChunk(behindFiller).member).toEqual(behindFiller.subarray(4));
    expect(badFrame(() => decodeChunkPayload(behindFiller))).toContain("not a gzip or zstd member");
    const huge = new Uint8Array(4 + MAX_CHUNK_MEMBER + 1);
    huge.set(behindFiller.subarray(4), 4);
    expect(badFrame(() => decodeFetchedChunk(huge))).toContain("member is");
    expect(badFrame(() => decodeFetchedChunk(Uint8Array.from([...u32(0), ...new Array(30).fill(0x42)])))).toContain("not a gzip");
  });
});
