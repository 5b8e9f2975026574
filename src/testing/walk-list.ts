// Tests' view of a walk: every entry of a source in a list, with what the walk left out and its digest.
import { TreeWalk } from "../client/tree-walk.ts";
import type { WalkedEntry } from "../client/walked-entries.ts";

/** Walks `source` to the end and returns its entries in order (shipped code never holds them all). */
export async function listWalk(
  source: string,
  exclude: readonly string[] = [],
): Promise<{ entries: WalkedEntry[]; skipped: string[]; digest: string }> {
  const walk = await TreeWalk.open(source, exclude);
  const entries: WalkedEntry[] = [];
  for (let entry = await walk.next(); entry; entry = await walk.next()) entries.push(entry);
  return { entries, skipped: walk.skipped, digest: walk.digest() };
}
