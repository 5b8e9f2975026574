// Holds on an S3 storage live in the bucket first, so every server on it, and a rebuilt cache, knows and can lift them.
import { isSlug } from "../config/slug.ts";
import type { BucketArchives } from "./bucket-archives.ts";
import { holdText, parseHold, type Hold } from "./holds.ts";
import type { StoreContext } from "./store-context.ts";

/** A hold object that could not be read: its key and why. */
export interface UnreadableHold {
  path: string;
  problem: string;
}

/**
 * Records `hold`: in the bucket first (on an S3 storage: the authority every server syncs from), then
 * in the cache's hold book. Throws S3Error and fs errors; when the bucket refuses, nothing is written.
 */
export async function putHold(ctx: StoreContext, hold: Hold): Promise<void> {
  if (ctx.bucket)
    await ctx.bucket.s3.putObject(ctx.bucket.holdKey(hold.client, hold.name), new TextEncoder().encode(holdText(hold)), "application/json");
  await ctx.holdBook.put(hold);
}

/** Lifts the hold of (client, name): from the bucket first, then from the cache's hold book. Throws S3Error and fs errors. */
export async function dropHold(ctx: StoreContext, client: string, name: string): Promise<void> {
  if (ctx.bucket) await ctx.bucket.s3.deleteObject(ctx.bucket.holdKey(client, name));
  await ctx.holdBook.drop(client, name);
}

/**
 * The holds in the bucket (only `client`'s when given), parsed, or with the problem that kept one
 * from being read. Throws S3Error when the bucket cannot be listed.
 */
export async function listBucketHolds(bucket: BucketArchives, client?: string): Promise<(Hold | UnreadableHold)[]> {
  const base = bucket.holdsPrefix();
  const out: (Hold | UnreadableHold)[] = [];
  for await (const o of bucket.s3.listAllObjects(client ? `${base}${client}/` : base)) {
    const [owner, item, extra] = o.key.slice(base.length).split("/");
    const name = item?.endsWith(".json") ? item.slice(0, -".json".length) : "";
    if (!owner || !isSlug(owner) || !isSlug(name) || extra !== undefined) continue;
    try {
      out.push(parseHold(JSON.parse(new TextDecoder().decode(await bucket.s3.getBytes(o.key))), owner, name));
    } catch (err) {
      out.push({ path: o.key, problem: (err as Error).message });
    }
  }
  return out;
}

/**
 * Before `client` is served on an S3 storage (under its lock): the cache's holds of `client` become
 * the bucket's. A hold the bucket has is written to the cache (new, or counted on by another server);
 * one the bucket lacks is dropped (another server released it: holds are written to the bucket first,
 * so a hold only the cache has was lifted there); one whose object cannot be read is left as the
 * cache has it (logged hold.unreadable). Returns the bucket's readable holds of `client`. Throws S3Error and fs errors.
 */
export async function syncHolds(ctx: StoreContext, bucket: BucketArchives, client: string): Promise<Hold[]> {
  const found = await listBucketHolds(bucket, client);
  const holds = found.filter((h): h is Hold => !("problem" in h));
  const unreadable = new Set<string>();
  for (const bad of found.filter((h): h is UnreadableHold => "problem" in h)) {
    ctx.log("error", "hold.unreadable", { path: bad.path, error: bad.problem });
    unreadable.add(bad.path);
  }
  for (const hold of holds) {
    const cached = ctx.holdBook.get(client, hold.name);
    if (cached && holdText(cached) === holdText(hold)) continue;
    await ctx.holdBook.put(hold);
    ctx.log("info", "hold.synced", { client, name: hold.name, file: hold.kept, consistent: hold.consistent });
  }
  const inBucket = new Set(holds.map((h) => h.name));
  for (const cached of ctx.holdBook.all().filter((h) => h.client === client)) {
    if (inBucket.has(cached.name) || unreadable.has(bucket.holdKey(client, cached.name))) continue;
    await ctx.holdBook.drop(client, cached.name);
    ctx.log("info", "hold.dropped", {
      client,
      name: cached.name,
      file: cached.kept,
      note: "no longer in the bucket: lifted by another server",
    });
  }
  return holds;
}
