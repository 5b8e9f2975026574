// One step of the scheduled scrub at a time: plan it (scrub-schedule.ts), read the archives it names, record what it found.
import { bucketScrubCandidates } from "./bucket-verify.ts";
import { readScrubState, planScrubStep, writeScrubState, type ScrubCandidate, type ScrubState } from "./scrub-schedule.ts";
import type { StoreContext } from "./store-context.ts";
import { verifyArchive } from "./verify-archive.ts";

/** What one step did. */
export interface ScrubStepReport {
  /** Archives read whole, and their bytes. */
  archives: number;
  bytes: number;
  /** "client/file" of those found damaged in this step. */
  damaged: string[];
}

/** The store's scrub: its state loaded once, then kept in memory and written after each step. */
export class ScheduledScrub {
  private state: ScrubState | null = null;
  private running: Promise<ScrubStepReport> | null = null;

  constructor(private readonly ctx: StoreContext) {}

  /**
   * Runs one step for a cycle of `cycleMs` (a step already running is awaited instead). Archives are
   * read one by one, beside the uploads (no lock is held); an archive gone before its turn is skipped.
   * Damage is recorded by verifyArchive. Never throws: an archive that cannot be read is logged
   * (scrub.failed) and left for the next step.
   */
  step(cycleMs: number): Promise<ScrubStepReport> {
    this.running ??= this.run(cycleMs).finally(() => {
      this.running = null;
    });
    return this.running;
  }

  /** The state as the last step left it; null before the first step (status reads .hashrelay/scrub.json). */
  get current(): ScrubState | null {
    return this.state;
  }

  private async run(cycleMs: number): Promise<ScrubStepReport> {
    const { ctx } = this;
    const report: ScrubStepReport = { archives: 0, bytes: 0, damaged: [] };
    const state = this.state ?? (await readScrubState(this.ctx.layout));
    const { read, next } = planScrubStep(state, await this.candidates(), ctx.now(), cycleMs);
    this.state = next;
    const bucketOnly = new Set(read.filter((a) => !ctx.index.archive(a.client, a.file)));
    for (const a of read) {
      const key = `${a.client}/${a.file}`;
      try {
        // no client lock: reading a large archive takes long, and a commit must not wait for it; an archive
        // trashed meanwhile is read through to its end all the same (the open file stays), which is harmless
        // left the index since the plan (trashed): skipped; an object only the bucket holds is read there
        if (!ctx.index.archive(a.client, a.file) && !bucketOnly.has(a)) continue;
        const result = await verifyArchive(ctx, a.client, a.file, "scrub");
        next.readAt[key] = ctx.now();
        report.archives++;
        report.bytes += result.size + (result.inBucket?.size ?? 0);
        if (!result.ok || result.inBucket?.ok === false) report.damaged.push(key);
      } catch (err) {
        // not read after all: its turn comes again at the next step
        delete next.readAt[key];
        if (ctx.index.archive(a.client, a.file) || bucketOnly.has(a))
          ctx.log("error", "scrub.failed", { client: a.client, file: a.file, error: (err as Error).message });
      }
    }
    next.bytesRead += report.bytes;
    next.archivesRead += report.archives;
    next.damageFound += report.damaged.length;
    await writeScrubState(ctx.layout, next).catch((err: Error) => ctx.log("error", "scrub.write-failed", { error: err.message }));
    if (report.archives > 0) ctx.log("info", "scrub.step", { ...report, damaged: report.damaged.join(", ") || undefined });
    return report;
  }

  /** The archives a step may read: the index's; on an S3 storage, the bucket's live objects too (bucket-verify.ts). */
  private async candidates(): Promise<ScrubCandidate[]> {
    const { ctx } = this;
    if (!ctx.bucket) return ctx.index.everyArchive();
    return bucketScrubCandidates(ctx, ctx.bucket).catch((err: Error) => {
      ctx.log("error", "scrub.failed", { bucket: ctx.bucket!.config.url, error: err.message });
      return ctx.index.everyArchive(); // the cache at least; the bucket's turn comes at the next step
    });
  }
}
