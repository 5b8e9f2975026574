// Where each member of an archive being uploaded is copied from: the upload's staging file, else what the client already has.
import { HashRelayError } from "../errors.ts";
import { NoIntactCopy } from "./damage-found.ts";
import type { MemberSource } from "./assemble.ts";
import type { StoredPlace } from "./index-rows.ts";
import type { UploadParts } from "./upload-host.ts";

/** Whether entry `i`'s member can be copied now: the client had it, or it is written to the staging file. */
export function isAvailable({ entries, staging }: UploadParts, i: number): boolean {
  return entries.hadAlready(i) || staging.stagedAt(entries.origin(i)) !== undefined;
}

/**
 * Where each member of entries [from, to) of the new file comes from: this upload's staging file,
 * else a stored archive of this client containing the chunk (the member after the previous one's
 * place, `after` for the first, when it is that chunk: runs stay runs), else its staging pool.
 * Throws STORAGE when a chunk to reuse is no longer there, NoIntactCopy (HASH_MISMATCH) when every
 * stored copy of it is known damaged, HASH_MISMATCH when the reused member's raw length is not the entry's. Every entry of the range must be available (isAvailable).
 */
export function memberSources(parts: UploadParts, from: number, to: number, after?: StoredPlace): MemberSource[] {
  const { host, client, name, entries, staging } = parts;
  const stagingLabel = `staging file of ${name} for ${client}`;
  const reused: number[] = [];
  for (let i = from; i < to; i++) if (!staging.stagedAt(entries.origin(i))) reused.push(i);
  const places = host.reusableMembers(
    client,
    reused.map((i) => entries.id(i)),
    after,
  );
  const sources: MemberSource[] = [];
  let next = 0;
  for (let i = from; i < to; i++) {
    const id = entries.id(i);
    const rawLength = entries.rawLength(i);
    const staged = staging.stagedAt(entries.origin(i));
    if (staged) {
      sources.push({ index: i, id, rawLength, path: staging.path, label: stagingLabel, ...staged });
      continue;
    }
    const place = places[next++];
    if (!place && host.knownDamaged(client, id)) throw new NoIntactCopy(`chunk ${i} of ${name}: every stored copy is damaged`);
    if (!place) {
      throw new HashRelayError(
        "STORAGE",
        `chunk ${i} of ${name} is no longer stored for ${client}`,
        "an older archive was removed meanwhile; the next backup retries",
      );
    }
    if (place.rawLength !== rawLength) {
      throw new HashRelayError(
        "HASH_MISMATCH",
        `chunk ${i} of ${name}, reused from ${place.label} at byte ${place.offset}, does not match its id`,
        "the manifest entry's raw length differs from the chunk's; the new archive was not stored",
      );
    }
    const { path, label, offset, length, sha256, xxh3, stored } = place;
    sources.push({
      index: i,
      id,
      rawLength,
      path,
      label,
      offset,
      length,
      sha256,
      ...(xxh3 ? { xxh3 } : {}),
      ...(stored ? { stored } : {}),
    });
  }
  return sources;
}
