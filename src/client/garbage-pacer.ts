// Full garbage collections paced by resident growth: JSC lets garbage pile up on a machine with RAM to spare.

/**
 * Resident bytes a process may grow by before a full collection. Walking and fast-forwarding a
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
 * Asks for a full collection (Bun.gc(true)) when the resident size grew by the budget since the floor:
 * the resident size after the last collection, or the floor before it plus FLOOR_RISE_BYTES when that
 * is lower. Resident memory that no collection gives back therefore costs a few extra collections (one
 * per FLOOR_RISE_BYTES of it), not a higher peak.
 */
export class GarbagePacer {
  private floor = process.memoryUsage().rss;

  /** Collects if due; cheap otherwise (one memoryUsage(), ~10 µs): call it every few hundred entries or chunks. */
  check(): void {
    if (process.memoryUsage().rss - this.floor < GROWTH_BUDGET_BYTES) return;
    Bun.gc(true);
    this.floor = Math.min(this.floor + FLOOR_RISE_BYTES, process.memoryUsage().rss);
  }
}
