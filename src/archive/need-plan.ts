// The server's answer to a manifest page: which chunks it must receive, given what this client already has.
import { chunkIdHex, type ManifestEntry } from "./manifest.ts";

/**
 * What one manifest entry needs: nothing (`have`: the client already has the chunk, at `place`),
 * its chunk (`needed`), or nothing more than entry `of` (`repeat`: an earlier entry of the same
 * archive with the same id, whose chunk is received once for both).
 */
export type ChunkNeed<Place> = { kind: "have"; place: Place } | { kind: "needed" } | { kind: "repeat"; of: number };

/**
 * Decides entries [firstIndex, firstIndex + entries.length) of an archive, in manifest order (the
 * store's Upload.addManifestPage answers with it). An id that an earlier entry of this archive asked
 * for is a `repeat` of that entry, and `have` is not asked about it again; for any other id,
 * `have(entry, idHex)` returns where the client already has the chunk (`have`) or null (`needed`:
 * the id joins `pending`). `pending` carries the ids asked for by earlier pages of the same archive
 * (id hex → first index) and is updated. A derived entry (its page place in `derived`: its id is not
 * known yet, PROTOCOL.md §8.5) is always `needed`, and neither asks `have` nor joins `pending`.
 * Throws only what `have` throws.
 */
export function planPage<Place>(
  firstIndex: number,
  entries: readonly ManifestEntry[],
  have: (entry: ManifestEntry, idHex: string) => Place | null,
  pending: Map<string, number>,
  derived: ReadonlySet<number> = new Set(),
): ChunkNeed<Place>[] {
  return entries.map((entry, k) => {
    if (derived.has(k)) return { kind: "needed" };
    const hex = chunkIdHex(entry.id);
    const first = pending.get(hex);
    if (first !== undefined) return { kind: "repeat", of: first };
    const place = have(entry, hex);
    if (place !== null) return { kind: "have", place };
    pending.set(hex, firstIndex + k);
    return { kind: "needed" };
  });
}
