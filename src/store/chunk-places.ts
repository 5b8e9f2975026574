// Where a client already has a chunk: in one of its stored archives (the chunk index), else in its staging pool.
import { chunkIdHex } from "../archive/manifest.ts";
import type { StoredMember, StoredPlace } from "./index-rows.ts";
import type { StoreContext } from "./store-context.ts";
import type { ReusableMember } from "./upload-host.ts";

/**
 * "stored" when one of the client's stored archives contains chunk `id` (hex `hex`) in a member not
 * known damaged (damage-book.ts), else the path of the staging file of its pool that contains it, else
 * null: the client is asked for it. An unreadable index only costs a resend (logged index.read-failed):
 * it counts as not stored. Never throws.
 */
export function findChunk(ctx: StoreContext, client: string, id: Uint8Array, hex: string): "stored" | string | null {
  try {
    if (ctx.damage.hasChunk(client, hex) ? intactMember(ctx, client, id) : ctx.index.has(client, id)) return "stored";
  } catch (err) {
    ctx.log("error", "index.read-failed", { client, error: (err as Error).message });
  }
  return ctx.pool.find(client, hex)?.path ?? null;
}

/** The newest member of chunk `id` in `client`'s stored archives that is not known damaged, or undefined. */
function intactMember(ctx: StoreContext, client: string, id: Uint8Array): StoredMember | undefined {
  return ctx.index.locate(client, id, (file, offset) => !ctx.damage.isDamagedAt(client, file, offset));
}

/**
 * Where to copy each chunk of `ids` from: the member right after the previous chunk's place (`after`
 * for the first) when it is that chunk, so that runs stay runs even where a chunk is stored twice;
 * else the client's newest stored archive containing it, else its staging pool; undefined when neither.
 * A member known damaged is never a place (damage-book.ts).
 */
export function reusableMembers(
  ctx: StoreContext,
  client: string,
  ids: readonly Uint8Array[],
  after?: StoredPlace,
): (ReusableMember | undefined)[] {
  const places = new Map<string, { path: string; label: string }>(); // per file: paths are checked once, not per member
  let previous: StoredPlace | undefined = after;
  return ids.map((id) => {
    const damaged = ctx.damage.hasChunk(client, chunkIdHex(id));
    let stored = previous && ctx.index.next(previous, id);
    if (stored && damaged && ctx.damage.isDamagedAt(client, stored.file, stored.offset)) stored = undefined;
    stored ??= damaged ? intactMember(ctx, client, id) : ctx.index.locate(client, id);
    previous = stored;
    if (stored) {
      const { file, offset, length, rawLength, sha256, xxh3, archive, seq } = stored;
      let place = places.get(file);
      if (!place) places.set(file, (place = { path: ctx.layout.archivePath(client, file), label: `${client}/${file}` }));
      return { ...place, offset, length, rawLength, sha256, ...(xxh3 ? { xxh3 } : {}), stored: { archive, seq } };
    }
    const hit = ctx.pool.find(client, chunkIdHex(id));
    if (!hit) return undefined;
    const { offset, length, rawLength, sha256, xxh3 } = hit.member;
    return { path: hit.path, label: `staging file ${hit.item} of ${client}`, offset, length, rawLength, sha256, xxh3 };
  });
}
