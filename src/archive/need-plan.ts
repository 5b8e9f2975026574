// The server's answer to a manifest page: which chunks it must receive, given what this client's store already holds.
import { chunkIdHex, type ManifestEntry } from "./manifest.ts";

export type ChunkPlan = { kind: "held" } | { kind: "needed" } | { kind: "repeat"; of: number };

/**
 * Plans entries [firstIndex, firstIndex + entries.length) of an archive, in manifest order:
 * "held" when the store (or staging) already holds the id, "repeat" when an earlier entry of the
 * same archive asks for the same id (it is received once), "needed" otherwise. `pending` carries
 * the ids asked for by earlier pages of the same archive (id hex → first index); it is updated.
 */
export function planPage(
  firstIndex: number,
  entries: readonly ManifestEntry[],
  isHeld: (idHex: string) => boolean,
  pending: Map<string, number>,
): ChunkPlan[] {
  return entries.map((entry, k) => {
    const hex = chunkIdHex(entry.id);
    if (isHeld(hex)) return { kind: "held" };
    const first = pending.get(hex);
    if (first !== undefined) return { kind: "repeat", of: first };
    pending.set(hex, firstIndex + k);
    return { kind: "needed" };
  });
}
