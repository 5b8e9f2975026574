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

describe("DeltaSources", () => {
  test("a page's worth of base chunks is read from the store once for the hash answers and the batch", () => {
    const { sources, reads } = counted();
    const page = Array.from({ length: 100 }, (_, i) => hex(i)); // 6.25 MiB, as a page of the bench's C names
    for (const id of page) sources.read(id); // HASH_REQUEST
    for (const id of page) sources.read(id); // DELTA_BATCH
    expect([...reads.values()].every((n) => n === 1)).toBe(true);
    expect(reads.size).toBe(100);
  });

  test("a page bigger than the cache: its first DELTA_SOURCE_CACHE_BYTES are read once, not every chunk twice", () => {
    const { sources, reads } = counted();
    const fits = DELTA_SOURCE_CACHE_BYTES / CHUNK;
    const page = Array.from({ length: fits + 30 }, (_, i) => hex(i)); // the generated tree's C: ~66 chunks of ~128 KiB
    sources.nextPage();
    for (const id of page) sources.read(id); // HASH_REQUEST
    for (const id of page) sources.read(id); // DELTA_BATCH, in the same order
    expect(page.slice(0, fits).every((id) => reads.get(id) === 1)).toBe(true);
    expect(page.slice(fits).every((id) => reads.get(id) === 2)).toBe(true);
  });

  test("each HASH_REQUEST answered starts a page: a second page's chunks take the room of the first's", () => {
    const { sources, reads } = counted();
    const fits = DELTA_SOURCE_CACHE_BYTES / CHUNK;
    const base = { length: 4 * fits, at: (i: number) => ({ id: Buffer.from(hex(i), "hex"), rawLength: CHUNK }) };
    const ask = (from: number, count: number) => {
      const ranges = Array.from({ length: count }, (_, k) => ({ baseIndex: from + k, offset: 0, count: 1 }));
      hashRequestOver(encodeHashRequest(from, ranges), base, sources).answer();
      for (let k = 0; k < count; k++) sources.read(hex(from + k)); // its DELTA_BATCH
    };
    ask(0, fits); // page 1 fills the cache
    ask(2 * fits, fits); // page 2: read once, not twice
    expect(Array.from({ length: fits }, (_, k) => reads.get(hex(2 * fits + k)))).toEqual(Array(fits).fill(1));
  });

  test("past DELTA_SOURCE_CACHE_BYTES the chunks of earlier pages go first, least recently used first", () => {
    const { sources, reads } = counted();
    const fits = DELTA_SOURCE_CACHE_BYTES / CHUNK;
    for (let i = 0; i < fits; i++) sources.read(hex(i));
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
    const held = Array.from({ length: fits + 20 }, (_, i) => (i === fits && sources.nextPage(), sources.read(hex(i))!)); // the first 20 dropped for the next page's
    for (const [i, bytes] of held.entries()) expect(bytes.every((b) => b === i % 256)).toBe(true);
    await tick(); // the call returned: the dropped buffers are spare now
    const dropped = new Set(held.slice(0, 20).map((b) => b.buffer));
    const next = Array.from({ length: 20 }, (_, i) => sources.read(hex(1000 + i))!);
    expect(next.every((b) => dropped.has(b.buffer))).toBe(true);
    for (const [i, bytes] of next.entries()) expect(bytes.every((b) => b === (1000 + i) % 256)).toBe(true);
  });
});
