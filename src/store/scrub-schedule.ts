// The scheduled scrub (server.scrub): every stored archive read once per cycle, a bounded share of the store per step, least recently read first.
//
// Budget: each step earns total × (elapsed / cycle) bytes of reading (elapsed counted up to two steps,
// so a server that was off does not read in a burst), and reads whole archives while its credit is
// positive; the archive that overdraws it is paid back by the next steps. So over any time T the scrub
// reads at most total × T / cycle + one archive: a 30-day cycle reads ~1/30 of the store a day. An
// archive read less than a cycle ago is not read again. The state (last read of each archive, credit,
// totals) is kept in .hashrelay/scrub.json, so a restart goes on where the last run stopped.
import { readFile } from "node:fs/promises";
import { writeFileAtomic } from "../io/atomic-file.ts";
import type { StoreLayout } from "./layout.ts";

/** Default server.scrub: the whole store is read once every 30 days. */
export const DEFAULT_SCRUB_CYCLE_MS = 30 * 86_400_000;
/** Steps per cycle: at a 30-day cycle, a step every hour (bounded below by MIN_SCRUB_STEP_MS). */
const STEPS_PER_CYCLE = 720;
/** The shortest step: at short cycles (tests), a step every few seconds at most. */
export const MIN_SCRUB_STEP_MS = 1_000;

/** How often the server runs a scrub step for a cycle of `cycleMs`. */
export function scrubStepMs(cycleMs: number): number {
  return Math.max(MIN_SCRUB_STEP_MS, Math.min(3_600_000, Math.round(cycleMs / STEPS_PER_CYCLE)));
}

/** What the scrub keeps between steps and restarts, and what `status` and /metrics show. */
export interface ScrubState {
  /** "client/file" → when it was last read whole (ms since the epoch). */
  readAt: Record<string, number>;
  /** Bytes the scrub may still read (negative: it read ahead). */
  credit: number;
  /** When the last step ran (ms), 0 before the first. */
  lastStepMs: number;
  /** Totals since the store was first scrubbed. */
  bytesRead: number;
  archivesRead: number;
  damageFound: number;
  /** The cycle in force at the last step (ms). */
  cycleMs: number;
}

/** One archive the scrub may read. */
export interface ScrubCandidate {
  client: string;
  file: string;
  size: number;
  storedAt: string;
}

/** A fresh state. */
export function emptyScrubState(): ScrubState {
  return { readAt: {}, credit: 0, lastStepMs: 0, bytesRead: 0, archivesRead: 0, damageFound: 0, cycleMs: DEFAULT_SCRUB_CYCLE_MS };
}

/** .hashrelay/scrub.json of `layout`. */
export function scrubStatePath(layout: StoreLayout): string {
  return layout.under(".hashrelay", "scrub.json");
}

/** The state kept in .hashrelay/scrub.json; a fresh one when there is none or it cannot be read. Never throws. */
export async function readScrubState(layout: StoreLayout): Promise<ScrubState> {
  try {
    const value = JSON.parse(await readFile(scrubStatePath(layout), "utf8")) as Partial<ScrubState>;
    const fresh = emptyScrubState();
    const num = (v: unknown, d: number) => (typeof v === "number" && Number.isFinite(v) ? v : d);
    const readAt = typeof value.readAt === "object" && value.readAt !== null ? value.readAt : {};
    return {
      readAt: Object.fromEntries(Object.entries(readAt).filter(([, v]) => typeof v === "number")),
      credit: num(value.credit, 0),
      lastStepMs: num(value.lastStepMs, 0),
      bytesRead: num(value.bytesRead, 0),
      archivesRead: num(value.archivesRead, 0),
      damageFound: num(value.damageFound, 0),
      cycleMs: num(value.cycleMs, fresh.cycleMs),
    };
  } catch {
    return emptyScrubState();
  }
}

/** Writes the state atomically. Throws fs errors. */
export async function writeScrubState(layout: StoreLayout, state: ScrubState): Promise<void> {
  await writeFileAtomic(scrubStatePath(layout), `${JSON.stringify(state)}\n`, 0o640);
}

/**
 * The archives one step reads, in order, and the state after it (pure). `archives`: every stored
 * archive now. Forgets archives no longer stored; earns the step's credit; then takes archives not
 * read within a cycle, never read first (oldest stored first), then least recently read, while the
 * credit is positive, and marks them read at `nowMs` (the caller reads them now).
 */
export function planScrubStep(
  state: ScrubState,
  archives: readonly ScrubCandidate[],
  nowMs: number,
  cycleMs: number,
): { read: ScrubCandidate[]; next: ScrubState } {
  const total = archives.reduce((n, a) => n + a.size, 0);
  const step = scrubStepMs(cycleMs);
  const elapsed = state.lastStepMs === 0 ? step : Math.min(Math.max(0, nowMs - state.lastStepMs), 2 * step);
  let credit = Math.min(state.credit + (total * elapsed) / cycleMs, Math.max(1, (total * 2 * step) / cycleMs));
  const readAt: Record<string, number> = {};
  for (const a of archives) {
    const at = state.readAt[`${a.client}/${a.file}`];
    if (at !== undefined) readAt[`${a.client}/${a.file}`] = at;
  }
  const due = archives
    .filter((a) => (readAt[`${a.client}/${a.file}`] ?? -Infinity) <= nowMs - cycleMs)
    .sort((a, b) => {
      const ra = readAt[`${a.client}/${a.file}`] ?? -Infinity;
      const rb = readAt[`${b.client}/${b.file}`] ?? -Infinity;
      return ra !== rb ? ra - rb : a.storedAt.localeCompare(b.storedAt);
    });
  const read: ScrubCandidate[] = [];
  for (const a of due) {
    if (credit <= 0) break;
    read.push(a);
    readAt[`${a.client}/${a.file}`] = nowMs;
    credit -= a.size;
  }
  if (due.length === read.length) credit = Math.min(credit, 0); // nothing left to read this cycle: no credit piles up
  return { read, next: { ...state, readAt, credit, lastStepMs: nowMs, cycleMs } };
}
