// The ransomware guard at work: judge each new archive against its predecessor, hold or release its name, apply release requests.
import { HashRelayError } from "../errors.ts";
import { asStorageError } from "./storage-error.ts";
import { trashInBucket } from "./bucket-trash.ts";
import { dropHold, putHold } from "./bucket-holds.ts";
import { holdAfter, type Hold } from "./holds.ts";
import type { ArchiveRow } from "./index-entry.ts";
import { refreshClient } from "./index-sync.ts";
import { checkClient, checkName } from "./layout.ts";
import { applyRetention } from "./retention.ts";
import type { StoreContext } from "./store-context.ts";
import { DEFAULT_SUSPECT_RULES, judgeTotals } from "./suspect-replacement.ts";

/**
 * Judges `row` (just stored and indexed) against `previous`, the archive of its name it replaces,
 * from the index's sums over their members, and updates the hold of that name (holds.ts), logging and
 * auditing a hold or release. Returns false when that failed (logged; e.g. the new archive could not
 * be indexed): retention must then wait. Under the client lock. Never throws.
 */
export async function guardReplacement(ctx: StoreContext, row: ArchiveRow, previous: ArchiveRow): Promise<boolean> {
  const { client, name } = row;
  const rules = ctx.retention.suspect ?? DEFAULT_SUSPECT_RULES;
  try {
    const totals = ctx.index.replacementTotals(client, previous.file, row.file);
    if (!totals) throw new Error(`${previous.file} or ${row.file} is not in the index`);
    const verdict = judgeTotals(totals, rules);
    const current = ctx.holdBook.get(client, name);
    const { hold, change } = holdAfter(
      current,
      verdict,
      { client, name, previous: previous.file, file: row.file, now: new Date(ctx.now()).toISOString() },
      rules,
    );
    if (hold) await putHold(ctx, hold);
    else if (current) await dropHold(ctx, client, name);
    if (change === "held" || change === "held-again") {
      ctx.log("warn", "archive.held", { client, name, file: hold!.kept, suspect: row.file, reason: verdict.reason });
      await ctx.audit({ event: "hold", client, name, file: hold!.kept, suspect: row.file, reason: verdict.reason });
    } else if (change === "released") {
      const reason = `${rules.releaseAfter} consistent backup(s) since the suspect one`;
      ctx.log("info", "archive.released", { client, name, file: current!.kept, suspect: current!.suspect, reason });
      await ctx.audit({ event: "release", client, name, file: current!.kept, suspect: current!.suspect, reason });
    }
    return true;
  } catch (err) {
    ctx.log("error", "hold.failed", {
      client,
      name,
      file: row.file,
      error: (err as Error).message,
      note: "retention skipped for this archive",
    });
    return false;
  }
}

/**
 * Lifts the hold on (client, name) and applies retention to that name at once (the kept archive goes
 * to the trash like any superseded one, unless retention.keep keeps it). On an S3 storage this server
 * first takes the name's lease (the server storing the name may be counting on its hold this very
 * moment), the cache follows the bucket (refreshClient: a hold another server judged, and its kept
 * archive, come down), the hold leaves the bucket, and the kept archive's object goes to the bucket's
 * trash. `by`: who asked, for the log and the audit trail. Returns the hold, or undefined when the
 * name was not held. Takes the client lock. Throws BAD_FRAME on a bad client or name, BUSY while
 * another server on the bucket stores that name, STORAGE when the hold cannot be deleted.
 */
export async function releaseHold(ctx: StoreContext, client: string, name: string, by: string): Promise<Hold | undefined> {
  checkClient(client);
  checkName(name);
  const { bucket } = ctx;
  if (!bucket) return liftHold(ctx, client, name, by);
  await bucket.leases.take(bucket.leaseBase(client, name));
  try {
    await refreshClient(ctx, client);
    return await liftHold(ctx, client, name, by);
  } finally {
    await bucket.leases.release(bucket.leaseBase(client, name));
  }
}

/** releaseHold once the cache knows what the bucket holds. */
async function liftHold(ctx: StoreContext, client: string, name: string, by: string): Promise<Hold | undefined> {
  return ctx.withClientLock(client, async () => {
    const hold = ctx.holdBook.get(client, name);
    if (!hold) return undefined;
    await dropHold(ctx, client, name).catch((err) => {
      throw asStorageError(err, `cannot release ${client}/${name}`);
    });
    ctx.log("info", "archive.released", { client, name, file: hold.kept, suspect: hold.suspect, reason: by });
    await ctx.audit({ event: "release", client, name, file: hold.kept, suspect: hold.suspect, reason: by });
    await applyRetention(ctx, client, name);
    // on an S3 storage the kept archive's object follows it into the bucket's trash now, not at the next commit
    if (ctx.bucket) await trashInBucket(ctx, ctx.bucket, client);
    return hold;
  });
}

/**
 * Applies the release requests `hashrelay release` left under .holds (see holds.ts), deleting each
 * once done (also when nothing was held, or it failed: logged), except one that met BUSY (another
 * server on the bucket stores that name now): it stays for the next call. Returns what was released. Never throws.
 */
export async function applyReleaseRequests(ctx: StoreContext): Promise<Hold[]> {
  const released: Hold[] = [];
  try {
    for (const { client, name } of await ctx.holdBook.requests()) {
      try {
        const hold = await releaseHold(ctx, client, name, "hashrelay release");
        if (hold) released.push(hold);
        else ctx.log("info", "release.not-held", { client, name });
      } catch (err) {
        if (err instanceof HashRelayError && err.code === "BUSY") {
          ctx.log("info", "release.waiting", { client, name, reason: err.message });
          continue;
        }
        ctx.log("error", "release.failed", { client, name, error: (err as Error).message });
      }
      await ctx.holdBook
        .consume(client, name)
        .catch((err) => ctx.log("error", "release.failed", { client, name, error: (err as Error).message }));
    }
  } catch (err) {
    ctx.log("error", "release.failed", { error: (err as Error).message });
  }
  return released;
}
