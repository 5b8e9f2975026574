// The per-session cache of delta sources: a page's base chunks are read (and inflated) once for its
// HASH_REQUEST and its DELTA_BATCH together, and the cache stays within DELTA_SOURCE_CACHE_BYTES.
import { describe, expect, test } from "bun:test";
import { encodeHashRequest } from "../archive/sub-block-hashes.ts";
import { DELTA_SOURCE_CACHE_BYTES, DeltaSources, hashRequestOver } from "./delta-sources.ts";

const CHUNK = 64 * 1024;

/**
 * DeltaSources over a store stub holding every chunk (CHUNK bytes each, all the chunk's number mod 256),
 * counting the reads per id; like the store, it gives each through one buffer it reuses.
 */
function counted() {
  const reads = new Map<string, number>();
  const reused = new Uint8Array(CHUNK);
  const store = {
    readChunk: (_client: string, hex: string) => {
      reads.set(hex, (reads.get(hex) ?? 0) + 1);
      return reused.fill(Number.parseInt(hex, 16) % 256);
    },
  };
  return { sources: new DeltaSources(store, "web01"), reads };
}

const hex = (i: number) => i.toString(16).padStart(64, "0");
const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

/** counted() over a base of chunks 0, 1, …: `ask` answers a HASH_REQUEST over chunks [from, from + count), `batch` reads them as its DELTA_BATCH. */
function paged() {
  const { sources, reads } = counted();
  const fits = DELTA_SOURCE_CACHE_BYTES / CHUNK;
  const base = { length: 4 * fits, at: (i: number) => ({ id: Buffer.from(hex(i), "hex"), rawLength: CHUNK }) };
  const ask = (from: number, count: number) => {
    const ranges = Array.from({ length: count }, (_, k) => ({ baseIndex: from + k, offset: 0, count: 1 }));
    hashRequestOver(encodeHashRequest(from, ranges), base, sources).answer();
  };
  const batch = (from: number, count: number) => {
    for (let k = 0; k < count; k++) sources.read(hex(from + k));
  };
  return { sources, reads, fits, ask, batch };
}

describe("DeltaSources", () => {
  test("a page's worth of base chunks is read from the store once for the hash answers and the batch", () => {
    const { sources, reads } = counted();
    const page = Array.from({ length: 100 }, (_, i) => hex(i)); // 6.25 MiB, as a page of the bench's C names
    for (const id of page) sources.read(id); // HASH_REQUEST
    for (const id of page) sources.read(id); // DELTA_BATCH
    expect([...reads.values()].every((n) => n === 1)).toBe(true);
    expect(reads.size).toBe(100);
  });

  test("a page bigger than the cache: its first chunks and the one read last are read once, not every chunk twice", () => {
    const { sources, reads } = counted();
    const fits = DELTA_SOURCE_CACHE_BYTES / CHUNK;
    const page = Array.from({ length: fits + 30 }, (_, i) => hex(i)); // the generated tree's C: ~66 chunks of ~128 KiB
    sources.nextPage();
    for (const id of page) sources.read(id); // HASH_REQUEST
    for (const id of page) sources.read(id); // DELTA_BATCH, in the same order
    expect(page.slice(0, fits - 1).every((id) => reads.get(id) === 1)).toBe(true);
    expect(reads.get(page.at(-1)!)).toBe(1);
    expect(page.slice(fits - 1, -1).every((id) => reads.get(id) === 2)).toBe(true);
  });

  test("with the cache full of this page's chunks, the chunk read last stays for the next delta that copies from it", () => {
    const { sources, reads } = counted();
    const fits = DELTA_SOURCE_CACHE_BYTES / CHUNK;
    sources.nextPage();
    for (let i = 0; i < fits; i++) sources.read(hex(i));
    for (const next of [5000, 5001, 5002]) {
      sources.read(hex(next));
      sources.read(hex(next)); // the next new chunk copies from the same old one
    }
    expect([5000, 5001, 5002].map((n) => reads.get(hex(n)))).toEqual([1, 1, 1]);
    expect(reads.get(hex(0))).toBe(1);
    sources.read(hex(0));
    expect(reads.get(hex(0))).toBe(1);
  });

  test("the next page's HASH_REQUEST answered before this page's DELTA_BATCH leaves this page's first chunks cached", () => {
    const { reads, fits, ask, batch } = paged();
    ask(0, fits + 10); // page 1: more than the cache holds
    ask(2 * fits, 4); // page 2, its pages sent as soon as built
    batch(0, fits + 10);
    batch(2 * fits, 4);
    expect(Array.from({ length: fits - 1 }, (_, k) => reads.get(hex(k)))).toEqual(Array(fits - 1).fill(1));
    expect(reads.get(hex(2 * fits + 3))).toBe(1);
  });

  test("the chunks of a page two HASH_REQUESTs back give their room first", () => {
    const { reads, fits, ask, batch } = paged();
    const page = (from: number, count: number) => (ask(from, count), batch(from, count));
    page(0, fits); // page 1 fills the cache
    page(fits, 1); // page 2
    page(2 * fits, fits - 1); // page 3: read once, taking page 1's room
    expect(Array.from({ length: fits - 1 }, (_, k) => reads.get(hex(2 * fits + k)))).toEqual(Array(fits - 1).fill(1));
  });

  test("past DELTA_SOURCE_CACHE_BYTES the chunks of pages before the last two go first, least recently used first", () => {
    const { sources, reads } = counted();
    const fits = DELTA_SOURCE_CACHE_BYTES / CHUNK;
    for (let i = 0; i < fits; i++) sources.read(hex(i));
    sources.nextPage();
    sources.nextPage();
    sources.read(hex(0)); // used again: chunk 1 is now the oldest
    sources.read(hex(fits)); // the next page's first chunk: chunk 1 goes
    sources.read(hex(0));
    expect(reads.get(hex(0))).toBe(1);
    sources.read(hex(1));
    expect(reads.get(hex(1))).toBe(2);
  });

  test("an upload's end drops the cache: the next upload reads its chunks anew", () => {
    const { sources, reads } = counted();
    sources.read(hex(1));
    sources.forget();
    sources.read(hex(1));
    expect(reads.get(hex(1))).toBe(2);
  });

  test("a chunk the client does not hold is not cached", () => {
    let asked = 0;
    const sources = new DeltaSources({ readChunk: () => (asked++, null) }, "web01");
    expect(sources.read(hex(7))).toBeNull();
    expect(sources.read(hex(7))).toBeNull();
    expect(asked).toBe(2);
  });

  test("a chunk's bytes stay as read through the call that read them, even once dropped from the cache; later reads reuse its buffer", async () => {
    const { sources } = counted();
    const fits = DELTA_SOURCE_CACHE_BYTES / CHUNK;
    const turn = () => (sources.nextPage(), sources.nextPage());
    const held = Array.from({ length: fits + 20 }, (_, i) => (i === fits && turn(), sources.read(hex(i))!)); // the first 20 dropped for a page two later
    for (const [i, bytes] of held.entries()) expect(bytes.every((b) => b === i % 256)).toBe(true);
    await tick(); // the call returned: the dropped buffers are spare now
    const dropped = new Set(held.slice(0, 20).map((b) => b.buffer));
    const next = Array.from({ length: 20 }, (_, i) => sources.read(hex(1000 + i))!);
    expect(next.every((b) => dropped.has(b.buffer))).toBe(true);
    for (const [i, bytes] of next.entries()) expect(bytes.every((b) => b === (1000 + i) % 256)).toBe(true);
  });
});
