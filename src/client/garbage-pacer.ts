// Full garbage collections paced by what one could give back: JSC lets garbage pile up on a machine with RAM to spare.

/**
 * Garbage a process may make before a full collection: growth of JSC's object space (`heapTotal`,
 * blocks of objects live and dead) plus growth of the memory held outside it (`external`: buffers and
 * their backing stores), both since the last collection. Walking and fast-forwarding a large
 * unchanged stretch leave garbage per entry and per chunk (lstat's BigInts, entries, paths, keys,
 * records, page entries) that outlives the young generation across the pages' awaits, and JSC
 * collected it only tens of MiB later. 4 MiB keeps D's and E's client peaks at or under what collecting
 * at 8 MiB of resident growth gave (E at scale 8: 91-101 MiB against 104-113, for ~0.5 s more CPU);
 * 6 MiB raised D's 5 MiB, 8 MiB D's and E's 3-4 MiB.
 */
const GARBAGE_BUDGET_BYTES = 4 * 1024 * 1024;

/**
 * Half of the buffers a collection found live beyond this much is added to the budget: an upload
 * holds tens of MiB of spare chunk buffers and windows (A: 20-40 MiB live after each collection)
 * and makes garbage in proportion (sealed frames, payloads), so a collection per few MiB of it marked
 * the same live heap ten times a second. A walk of an unchanged tree holds a few MiB: its budget
 * stays 4 MiB. The whole of it instead of half: fewer collections still, but C's peak +20 MiB.
 */
const LIVE_BUFFERS_FREE_BYTES = 8 * 1024 * 1024;

/** What the pacer reads: `process.memoryUsage()`'s object space and external bytes. */
export interface HeapReading {
  heapTotal: number;
  external: number;
}

/** Where the pacer reads and collects (a test may count and fake them). */
export interface GarbageHeap {
  read(): HeapReading;
  collect(): void;
}

const jscHeap: GarbageHeap = {
  read: () => process.memoryUsage(),
  collect: () => Bun.gc(true),
};

/** What the last collection left, shared by every pacer of the process: one pacer's collection serves the others. */
interface Floor {
  objects: number;
  buffers: number;
}

/** The pure rule: how much garbage `now` holds over `floor`, and whether it is due. */
export function collectionDue(floor: Floor, now: HeapReading): boolean {
  const made = Math.max(0, now.heapTotal - floor.objects) + Math.max(0, now.external - floor.buffers);
  return made >= GARBAGE_BUDGET_BYTES + Math.max(0, floor.buffers - LIVE_BUFFERS_FREE_BYTES) / 2;
}

const floors = new WeakMap<GarbageHeap, Floor>();

/**
 * Asks for a full collection (Bun.gc(true)) when the garbage made since the last one reached the
 * budget. The floor is what the last collection left, and it follows a reading down (JSC's own
 * collections): growth the heap cannot give back, a worker's memory or the allocator's kept pages,
 * shows in neither reading and costs no collection; live buffers cost a few collections, each
 * raising the floor to them and the budget with it (64 MiB of them: 6), not one per budget. The
 * floor is what was live at a collection, not what the allocator kept resident, so it cannot ratchet
 * up: the heap reaches at most the largest live size plus its budget.
 */
export class GarbagePacer {
  private readonly floor: Floor;

  constructor(private readonly heap: GarbageHeap = jscHeap) {
    let floor = floors.get(heap);
    if (!floor) {
      const now = heap.read();
      floor = { objects: now.heapTotal, buffers: now.external };
      floors.set(heap, floor);
    }
    this.floor = floor;
  }

  /** Collects if due; cheap otherwise (one memoryUsage(), ~10 µs): call it every few hundred entries or chunks. */
  check(): void {
    const now = this.heap.read();
    this.floor.objects = Math.min(this.floor.objects, now.heapTotal);
    this.floor.buffers = Math.min(this.floor.buffers, now.external);
    if (!collectionDue(this.floor, now)) return;
    this.heap.collect();
    const left = this.heap.read();
    this.floor.objects = left.heapTotal;
    this.floor.buffers = left.external;
  }
}
