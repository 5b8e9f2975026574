import { afterEach, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { gunzipSync } from "node:zlib";
import { ChunkWorkers } from "./chunk-workers.ts";

// Each test starts two worker threads (~100 ms) and compresses a few chunks: well under a second.

let workers: ChunkWorkers | null = null;
afterEach(() => workers?.close());

const idOf = (raw: Uint8Array) => new Uint8Array(createHash("sha256").update(raw).digest());
const text = (n: number, seed: string) => new TextEncoder().encode(`${seed} line of text\n`.repeat(Math.ceil(n / 20)).slice(0, n));
/** The raw bytes a chunk frame payload's member inflates to. */
const inflated = (payload: Uint8Array | null): Uint8Array<ArrayBufferLike> => new Uint8Array(gunzipSync(payload!.subarray(4)));

test("a chunk copied into the buffer of a larger one before it gets its own bytes, not the larger one's", async () => {
  workers = new ChunkWorkers();
  const large = randomBytes(200 * 1024);
  const small = text(10 * 1024, "small");
  (await workers.run(idOf(large), large, 0)).release();
  // the large chunk's buffer is back as a spare: the small one is copied into it
  const work = await workers.run(idOf(small), small, 1);
  expect(inflated(work.payload)).toEqual(small);
  const fresh = new ChunkWorkers();
  try {
    const alone = await fresh.run(idOf(small), small, 1);
    expect(work.blocks).toEqual(alone.blocks);
    expect(work.payload).toEqual(alone.payload);
  } finally {
    fresh.close();
  }
});

test("chunks in flight at once each keep their bytes, and the caller may reuse its buffer once run returned", async () => {
  workers = new ChunkWorkers();
  const source = new Uint8Array(64 * 1024);
  const expected: Uint8Array<ArrayBufferLike>[] = [];
  const running = [];
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 8; i++) {
      const raw = text(1024 * (8 + 7 * i), `round ${round} chunk ${i}`);
      source.set(raw);
      const view = source.subarray(0, raw.length);
      running.push(workers.run(idOf(view), view, i));
      source.fill(0); // the caller's buffer takes the next chunk at once
      expected.push(raw);
    }
    const done = await Promise.all(running.splice(0));
    for (const [i, work] of done.entries()) expect(inflated(work.payload)).toEqual(expected[round * 8 + i]!);
  }
});

test("a payload keeps its bytes until released; then its buffer takes a later chunk", async () => {
  workers = new ChunkWorkers();
  const first = randomBytes(100 * 1024);
  const work = await workers.run(idOf(first), first, 0);
  const payload = work.payload!.slice();
  // not released: later chunks do not take its buffer
  for (let i = 1; i <= 3; i++) await workers.run(idOf(text(90 * 1024, `later ${i}`)), text(90 * 1024, `later ${i}`), i);
  expect(work.payload).toEqual(payload);
  expect(inflated(work.payload)).toEqual(first);
  work.release();
  const next = text(90 * 1024, "next");
  expect(inflated((await workers.run(idOf(next), next, 4)).payload)).toEqual(next);
  // its buffer went to the thread with the next chunk's copy (transferred, so this view is empty)
  expect(work.payload!.length).toBe(0);
});
