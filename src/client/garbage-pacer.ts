// Full garbage collections paced by resident growth: JSC lets garbage pile up on a machine with RAM to spare.

/**
 * Resident bytes a process may grow by before a full collection. Walking and fast-forwarding a
 * large unchanged stretch leave garbage per entry and per chunk (lstat's BigInts, entries, paths,
 * keys, records, page entries) that outlives the young generation across the pages' awaits, and
 * JSC collected it only tens of MiB later: a one-line edit of a 3.3 GiB tree peaked at ~128 MiB of
 * RSS from source, ~112 MiB with this budget, for ~20 collections of 10-40 ms.
 */
const GROWTH_BUDGET_BYTES = 8 * 1024 * 1024;

/** Asks for a full collection (Bun.gc(true)) when the resident size grew by the budget since the last one. */
export class GarbagePacer {
  private floor = process.memoryUsage().rss;

  /** Collects if due; cheap otherwise (one memoryUsage(), ~10 µs): call it every few hundred entries or chunks. */
  check(): void {
    if (process.memoryUsage().rss - this.floor < GROWTH_BUDGET_BYTES) return;
    Bun.gc(true);
    this.floor = process.memoryUsage().rss;
  }
}
