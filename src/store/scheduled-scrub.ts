// One step of the scheduled scrub at a time: plan it (scrub-schedule.ts), read the archives it names, record what it found.
import { readScrubState, planScrubStep, writeScrubState, type ScrubState } from "./scrub-schedule.ts";
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
   * read one by one under their client's lock (no commit or retention of that client meanwhile); an
   * archive gone meanwhile is skipped. Damage is recorded by verifyArchive. Never throws: a failure is
   * logged (scrub.failed) and the step ends there.
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
    const { read, next } = planScrubStep(state, ctx.index.everyArchive(), ctx.now(), cycleMs);
    this.state = next;
    try {
      for (const a of read) {
        const result = await ctx.withClientLock(a.client, async () =>
          ctx.index.archive(a.client, a.file) ? verifyArchive(ctx, a.client, a.file, "scrub") : null,
        );
        next.readAt[`${a.client}/${a.file}`] = ctx.now();
        if (!result) continue;
        report.archives++;
        report.bytes += result.size;
        if (!result.ok) report.damaged.push(`${a.client}/${a.file}`);
      }
    } catch (err) {
      ctx.log("error", "scrub.failed", { error: (err as Error).message });
    }
    next.bytesRead += report.bytes;
    next.archivesRead += report.archives;
    next.damageFound += report.damaged.length;
    await writeScrubState(ctx.layout, next).catch((err: Error) => ctx.log("error", "scrub.write-failed", { error: err.message }));
    if (report.archives > 0) ctx.log("info", "scrub.step", { ...report, damaged: report.damaged.join(", ") || undefined });
    return report;
  }
}
