// The per-session cache of delta sources: a page's base chunks are read (and inflated) once for its
// HASH_REQUEST and its DELTA_BATCH together, and the cache stays within DELTA_SOURCE_CACHE_BYTES.
import { describe, expect, test } from "bun:test";
import { DELTA_SOURCE_CACHE_BYTES, DeltaSources } from "./delta-sources.ts";

const CHUNK = 64 * 1024;

/** DeltaSources over a store stub holding every chunk (CHUNK zero bytes each), counting the reads per id. */
function counted() {
  const reads = new Map<string, number>();
  const store = {
    readChunk: (_client: string, hex: string) => {
      reads.set(hex, (reads.get(hex) ?? 0) + 1);
      return new Uint8Array(CHUNK);
    },
  };
  return { sources: new DeltaSources(store, "web01"), reads };
}

const hex = (i: number) => i.toString(16).padStart(64, "0");

describe("DeltaSources", () => {
  test("a page's worth of base chunks is read from the store once for the hash answers and the batch", () => {
    const { sources, reads } = counted();
    const page = Array.from({ length: 100 }, (_, i) => hex(i)); // 6.25 MiB, as a page of the bench's C names
    for (const id of page) sources.read(id); // HASH_REQUEST
    for (const id of page) sources.read(id); // DELTA_BATCH
    expect([...reads.values()].every((n) => n === 1)).toBe(true);
    expect(reads.size).toBe(100);
  });

  test("past DELTA_SOURCE_CACHE_BYTES the least recently used chunk is dropped", () => {
    const { sources, reads } = counted();
    const fits = DELTA_SOURCE_CACHE_BYTES / CHUNK;
    for (let i = 0; i < fits; i++) sources.read(hex(i));
    sources.read(hex(0)); // used again: chunk 1 is now the oldest
    sources.read(hex(fits)); // one more than fits: chunk 1 goes
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
});
