// The scrub part of the server's `hashrelay status`: the scheduled scrub's progress and the archives known damaged.
import { formatDuration, formatSize } from "../config/units.ts";
import { when } from "../daemon/status-line.ts";
import { DamageBook, type DamagedArchive } from "../store/damage-book.ts";
import type { StoreLayout } from "../store/layout.ts";
import { readScrubState } from "../store/scrub-schedule.ts";

/** What `status` says of the scrub: its cycle, its totals, and each damaged archive (stored or trashed). */
export interface ScrubStatus {
  /** server.scrub as a duration ("30d"), or "off". */
  cycle: string;
  /** When its last step ran, null before any. */
  lastRunAt: string | null;
  bytesRead: number;
  archivesRead: number;
  /** Stored archives read within the current cycle, of all stored. */
  readThisCycle: number;
  stored: number;
  damaged: (DamagedArchive & { stored: boolean })[];
}

/**
 * Reads .hashrelay/scrub.json and .hashrelay/damaged.json (read only; none yet: zeros). `stored`: the
 * stored archives as "client/file", to count what this cycle read and tell stored damage from trashed.
 */
export async function scrubStatus(
  layout: StoreLayout,
  cycleMs: number | null,
  stored: ReadonlySet<string>,
  now: Date,
): Promise<ScrubStatus> {
  const state = await readScrubState(layout);
  const book = await DamageBook.load(layout, () => undefined);
  const since = now.getTime() - (cycleMs ?? state.cycleMs);
  const readThisCycle = [...stored].filter((key) => (state.readAt[key] ?? -Infinity) > since).length;
  return {
    cycle: cycleMs === null ? "off" : formatDuration(cycleMs),
    lastRunAt: state.lastStepMs > 0 ? new Date(state.lastStepMs).toISOString() : null,
    bytesRead: state.bytesRead,
    archivesRead: state.archivesRead,
    readThisCycle,
    stored: stored.size,
    damaged: book.all().map((d) => ({ ...d, stored: stored.has(`${d.client}/${d.file}`) })),
  };
}

/** "Scrub: …" and one line per damaged archive, with what happens next. */
export function scrubLines(s: ScrubStatus, now: Date): string[] {
  const head =
    s.cycle === "off"
      ? "Scrub: off (server.scrub); hashrelay server verify reads every archive on demand"
      : `Scrub: every archive read once per ${s.cycle}; ${s.readThisCycle} of ${s.stored} read this cycle; ` +
        `${s.lastRunAt ? `last ran ${when(s.lastRunAt, now)}` : "not run yet"} (${s.archivesRead} archives, ${formatSize(s.bytesRead)} read in all)`;
  const lines = [head];
  for (const d of s.damaged) {
    const first = d.members[0];
    const member = first && `member ${first.index === undefined ? "" : `${first.index} `}at byte ${first.offset}`;
    const what = first ? `${d.members.length} damaged member(s), first ${member}: ${first.reason}` : (d.problem ?? "damaged");
    const next = d.stored
      ? "the next backup of its source sends the damaged chunks again"
      : "in the trash; its source was backed up again since";
    lines.push(`  DAMAGED ${d.client}/${d.file}  found by ${d.by} ${when(d.foundAt, now)}: ${what}; ${next}`);
  }
  return lines;
}
