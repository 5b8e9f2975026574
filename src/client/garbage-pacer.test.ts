import { describe, expect, test } from "bun:test";
import { type GarbageHeap, GarbagePacer, type HeapReading } from "./garbage-pacer.ts";

const MiB = 1024 * 1024;

/** A heap whose readings the test sets; collect() keeps only what the test marked live. */
class FakeHeap implements GarbageHeap {
  objects = 4 * MiB;
  buffers = 2 * MiB;
  liveObjects = 4 * MiB;
  liveBuffers = 2 * MiB;
  collections = 0;
  read(): HeapReading {
    return { heapTotal: this.objects, external: this.buffers };
  }
  collect(): void {
    this.collections++;
    this.objects = this.liveObjects;
    this.buffers = this.liveBuffers;
  }
}

/** The real heap, collections counted. */
function countedJscHeap(): GarbageHeap & { collections: number } {
  return {
    collections: 0,
    read: () => process.memoryUsage(),
    collect() {
      this.collections++;
      Bun.gc(true);
    },
  };
}

describe("GarbagePacer", () => {
  test("garbage piling up in a walk-like loop is collected at the budget, never far past it", () => {
    const heap = new FakeHeap();
    const pacer = new GarbagePacer(heap);
    let highest = 0;
    for (let i = 0; i < 200; i++) {
      heap.objects += 512 * 1024; // entries, BigInts, paths
      heap.buffers += 256 * 1024; // records read and dropped
      pacer.check();
      highest = Math.max(highest, heap.objects + heap.buffers);
    }
    // 150 MiB of garbage in all: a collection per 4.5 MiB of it, never more than that over what is live.
    expect(heap.collections).toBe(33);
    expect(highest).toBeLessThanOrEqual(6 * MiB + 4.5 * MiB);
  });

  test("live buffers cost a few collections, not one per budget of them", () => {
    const heap = new FakeHeap();
    const pacer = new GarbagePacer(heap);
    // Live buffers (an upload's spares and windows) grow to 64 MiB, 1 MiB at a time.
    for (let i = 0; i < 62; i++) {
      heap.buffers += MiB;
      heap.liveBuffers += MiB;
      pacer.check();
    }
    // Collections at 6, 10, 15, 23, 35 and 53 MiB live: each raises the floor and the budget with it
    // (a resident-size rule: one per 2 MiB of it, ~28).
    expect(heap.collections).toBe(6);
    // Then garbage on top of the 64 MiB live: a collection per 4 + (64 - 8) / 2 = 32 MiB of it, not at every check.
    const before = heap.collections;
    for (let i = 0; i < 120; i++) {
      heap.buffers += MiB;
      pacer.check();
    }
    expect(heap.collections - before).toBe(4);
  });

  test("a collection by one pacer serves the others of the process; JSC's own collections lower the floor", () => {
    const heap = new FakeHeap();
    const walk = new GarbagePacer(heap);
    const pages = new GarbagePacer(heap);
    heap.objects += 4 * MiB;
    walk.check();
    pages.check();
    expect(heap.collections).toBe(1);
    // JSC collected on its own down to 2 MiB of objects: garbage counts from there.
    heap.objects = 2 * MiB;
    pages.check();
    heap.objects += 3 * MiB;
    walk.check();
    expect(heap.collections).toBe(1);
    heap.objects += MiB;
    walk.check();
    expect(heap.collections).toBe(2);
  });

  test("real JSC: garbage that outlives awaits is collected within the budget", async () => {
    const heap = countedJscHeap();
    Bun.gc(true);
    const pacer = new GarbagePacer(heap);
    const start = process.memoryUsage();
    let highest = 0;
    let kept: object[] = [];
    for (let i = 0; i < 400_000; i++) {
      // What a walk leaves per entry: a path, BigInt times, a record; held across awaits, then dropped.
      kept.push({ path: `/tree/folder-${i >> 8}/file-${i}.txt`, mtimeNs: BigInt(i) * 1_000_000_007n, size: [i, i + 1] });
      if (i % 1024 === 0) {
        await Promise.resolve();
        kept = [];
        pacer.check();
        const now = process.memoryUsage();
        highest = Math.max(highest, now.heapTotal + now.external - start.heapTotal - start.external);
      }
    }
    expect(heap.collections).toBeGreaterThan(0);
    expect(highest).toBeLessThan(24 * MiB);
  });

  test("real JSC: a worker's memory growing in the same process costs no collection", async () => {
    const heap = countedJscHeap();
    Bun.gc(true);
    const pacer = new GarbagePacer(heap);
    const rssBefore = process.memoryUsage().rss;
    const code = "const held = []; for (let i = 0; i < 64; i++) held.push(new Uint8Array(1 << 20).fill(1)); postMessage('held');";
    const worker = new Worker(URL.createObjectURL(new Blob([code])));
    try {
      await new Promise((resolve) => worker.addEventListener("message", resolve, { once: true }));
      // The resident size grew by the worker's 64 MiB (a resident-size pacer collected here), the main heap did not.
      expect(process.memoryUsage().rss - rssBefore).toBeGreaterThan(32 * MiB);
      for (let i = 0; i < 16; i++) pacer.check();
      expect(heap.collections).toBe(0);
    } finally {
      worker.terminate();
    }
  });
});
