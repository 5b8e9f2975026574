// Garbage collections paced by resident growth: JSC lets garbage pile up on a machine with RAM to spare.
import { edenGC } from "bun:jsc";

/**
 * Resident bytes a process may grow by before a collection. Walking and fast-forwarding a
 * large unchanged stretch leave garbage per entry and per chunk (lstat's BigInts, entries, paths,
 * keys, records, page entries) that outlives the young generation across the pages' awaits, and
 * JSC collected it only tens of MiB later: a one-line edit of a 3.3 GiB tree peaked at ~128 MiB of
 * RSS from source, ~112 MiB with this budget, for ~20 collections of 10-40 ms.
 */
const GROWTH_BUDGET_BYTES = 8 * 1024 * 1024;

/**
 * How far the floor may rise at one collection. What a collection leaves resident climbs as a backup
 * goes on (pages the allocator keeps, buffers live at that moment); taking it whole as the next floor
 * let the peak ratchet up with it: a one-line edit of the bench's scale-4 tree peaked at 108.8-115.6
 * MiB over six runs, 105.9-108.4 MiB with this bound, for the same user CPU (2.3-3.0 s).
 */
const FLOOR_RISE_BYTES = 2 * 1024 * 1024;

/**
 * One collection in FULL_EVERY is a full one (Bun.gc(true)), the others young-generation ones
 * (edenGC). A full collection marks and sweeps the whole heap: 20-50 ms each in C at scale 1 (20 of
 * them, 0.6-1.1 s of the main thread, most giving back under 1 MiB); a young one ~6 ms. Young ones
 * alone held C's peak as well but let D's grow by ~7 MiB (what outlived the young generation waits
 * for a full one): see RESULTS.md, issue18-cwalk.
 */
export const FULL_EVERY = 4;

/** How the pacer reads the resident size and collects: the process's own, or a test's. */
export interface Collector {
  residentBytes(): number;
  collect(full: boolean): void;
}

const PROCESS: Collector = {
  residentBytes: () => process.memoryUsage().rss,
  collect: (full) => (full ? Bun.gc(true) : edenGC()),
};

/**
 * Asks for a collection when the resident size grew by the budget since the floor: the resident size
 * after the last collection, or the floor before it plus FLOOR_RISE_BYTES when that is lower. Resident
 * memory that no collection gives back therefore costs a few extra collections (one per
 * FLOOR_RISE_BYTES of it), not a higher peak; most of them young ones (FULL_EVERY).
 */
export class GarbagePacer {
  private floor: number;
  private due = 0;

  constructor(private readonly collector: Collector = PROCESS) {
    this.floor = collector.residentBytes();
  }

  /** Collects if due; cheap otherwise (one memoryUsage(), ~10 µs): call it every few hundred entries or chunks. */
  check(): void {
    if (this.collector.residentBytes() - this.floor < GROWTH_BUDGET_BYTES) return;
    this.collector.collect(++this.due % FULL_EVERY === 0);
    this.floor = Math.min(this.floor + FLOOR_RISE_BYTES, this.collector.residentBytes());
  }
}
