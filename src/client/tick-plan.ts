// Pure: when the client daemon ticks next: on its schedule, when a tick is asked for (backup-now), and on retries while the server is down.
import { firstScheduledTick, nextScheduledTick, type TickSchedule } from "../config/tick-schedule.ts";
import type { DownKind } from "../daemon/status-line.ts";

/** Why a tick runs. */
export type TickTrigger = "schedule" | "request" | "retry";

export interface TickPlan {
  /** The next tick by the schedule (ms since the epoch). A retry or a requested tick does not move it. */
  scheduled: number;
  /** A retry before the scheduled tick, while the server is down (ms since the epoch); null when none. */
  retry: number | null;
  /** Ticks in a row that found the server down for a reason a retry may cure (the backoff's exponent). */
  downStreak: number;
  /** A tick was asked for: the next tick to start serves it. */
  requested: boolean;
}

/** What the plan needs to know of a finished tick (client/tick.ts TickResult fits). */
export interface TickOutcome {
  server: "up" | "down";
  /** Why the server was down, when it was. */
  kind?: DownKind;
  results: readonly { status: string }[];
}

/** The backoff: base × 2^(n−1) after the n-th down tick in a row, at most base × maxFactor, plus up to `jitter` of it. */
export const RETRY_BACKOFF = { maxFactor: 32, jitter: 0.1 } as const;

/**
 * Down kinds a retry may cure within minutes: a server not started yet, restarting, rebooting or at its
 * connection cap. Not `unauthorized` (a key the admin must fix) nor an unknown `error`.
 */
const RETRYABLE: readonly DownKind[] = ["refused", "timeout", "unreachable", "closed", "busy"];

/** The plan at start: an `every` schedule ticks at once, a cron schedule at its first time (each plus the client's splay offset). */
export function firstPlan(schedule: TickSchedule, nowMs: number): TickPlan {
  return { scheduled: firstScheduledTick(schedule, nowMs), retry: null, downStreak: 0, requested: false };
}

/** When the next tick is due: now when one was asked for, else the earlier of the retry and the scheduled tick. */
export function dueAt(plan: TickPlan): number {
  if (plan.requested) return 0;
  return plan.retry === null ? plan.scheduled : Math.min(plan.retry, plan.scheduled);
}

/** Why a tick starting at `nowMs` runs, or null when none is due. A due scheduled tick also serves a request or a retry. */
export function triggerAt(plan: TickPlan, nowMs: number): TickTrigger | null {
  if (plan.scheduled <= nowMs) return "schedule";
  if (plan.requested) return "request";
  if (plan.retry !== null && plan.retry <= nowMs) return "retry";
  return null;
}

/** A tick starts: any request made so far is served by it (one asked for during the tick gets another). */
export function tickStarted(plan: TickPlan): TickPlan {
  return { ...plan, requested: false };
}

/** Whether the tick found the server down before attempting anything, for a reason a retry may cure. */
export function retryable(outcome: TickOutcome): boolean {
  const firstProbeDown = outcome.server === "down" && outcome.results.every((r) => r.status === "skipped");
  return firstProbeDown && outcome.kind !== undefined && RETRYABLE.includes(outcome.kind);
}

/** The delay before retry number `streak` (1, 2, …): base, 2 × base, 4 × base … capped, stretched by `random` ∈ [0, 1) × jitter. */
export function retryDelayMs(streak: number, baseMs: number, random: number): number {
  const factor = Math.min(2 ** Math.max(0, streak - 1), RETRY_BACKOFF.maxFactor);
  return Math.round(baseMs * factor * (1 + RETRY_BACKOFF.jitter * random));
}

/**
 * The plan after a tick started by `trigger` ended at `nowMs`: a scheduled tick moves the schedule on
 * (a requested tick or a retry does not, and neither is delayed by the splay);
 * a tick that found the server down (retryable) plans a retry with backoff, dropped when it would not
 * come before the scheduled tick; any other outcome ends the backoff.
 */
export function afterTick(
  plan: TickPlan,
  trigger: TickTrigger,
  outcome: TickOutcome,
  nowMs: number,
  schedule: TickSchedule,
  backoff: { baseMs: number; random: number },
): TickPlan {
  const scheduled = trigger === "schedule" ? nextScheduledTick(schedule, nowMs) : plan.scheduled;
  if (!retryable(outcome)) return { ...plan, scheduled, retry: null, downStreak: 0 };
  const downStreak = plan.downStreak + 1;
  const retry = nowMs + retryDelayMs(downStreak, backoff.baseMs, backoff.random);
  return { ...plan, scheduled, downStreak, retry: retry < scheduled ? retry : null };
}

/** A new schedule is in force (reload): its next time, and a retry only if it still comes first. */
export function rescheduled(plan: TickPlan, scheduled: number): TickPlan {
  return { ...plan, scheduled, retry: plan.retry !== null && plan.retry < scheduled ? plan.retry : null };
}

/** Another process's tick found the server Up: no retry is needed any more. */
export function serverSeenUp(plan: TickPlan): TickPlan {
  return { ...plan, retry: null, downStreak: 0 };
}
