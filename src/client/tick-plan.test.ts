// The daemon's plan: retries with backoff while the server is down, until the scheduled tick; requests; the schedule unmoved.
import { describe, expect, test } from "bun:test";
import { parseSchedule } from "../config/schedule.ts";
import type { TickSchedule } from "../config/tick-schedule.ts";
import {
  afterTick,
  dueAt,
  firstPlan,
  rescheduled,
  retryDelayMs,
  serverSeenUp,
  tickStarted,
  triggerAt,
  type TickOutcome,
  type TickPlan,
} from "./tick-plan.ts";

const MIN = 60_000;
/** `text` read in UTC, each scheduled tick `offsetMs` late (a splay's fixed share). */
const inUtc = (text: string, offsetMs = 0): TickSchedule => ({
  schedule: parseSchedule(text)!,
  zone: "UTC",
  zoneIsMachine: false,
  splayMs: offsetMs === 0 ? 0 : 15 * 60_000,
  offsetMs,
});
const hourly = inUtc("53 * * * *");
const at = (h: number, m: number, s = 0) => Date.UTC(2026, 10, 26, h, m, s);
const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);
const down = (kind: TickOutcome["kind"] = "refused"): TickOutcome => ({ server: "down", kind, results: [{ status: "skipped" }] });
const up: TickOutcome = { server: "up", results: [{ status: "sent" }] };
const backoff = { baseMs: MIN, random: 0 };

/** Runs the plan forward from `start`: each due tick ends at once with `outcomeAt(time)`; the times and triggers, until `until`. */
function simulate(plan: TickPlan, until: number, outcomeAt: (ms: number) => TickOutcome, schedule = hourly): string[] {
  const ticks: string[] = [];
  for (let now = dueAt(plan); now < until; now = dueAt(plan)) {
    const trigger = triggerAt(plan, now)!;
    ticks.push(`${hhmm(now)} ${trigger}`);
    plan = afterTick(tickStarted(plan), trigger, outcomeAt(now), now, schedule, backoff);
  }
  return ticks;
}

describe("retries while the server is down", () => {
  test("1, 2, 4, 8, 16 minutes after a down tick, until the scheduled tick", () => {
    const plan = firstPlan(hourly, at(17, 52));
    expect(hhmm(plan.scheduled)).toBe("17:53");
    expect(simulate(plan, at(19, 0), () => down())).toEqual([
      "17:53 schedule",
      "17:54 retry",
      "17:56 retry",
      "18:00 retry",
      "18:08 retry",
      "18:24 retry",
      // 18:24 + 32 min is past 18:53: the scheduled tick comes first; the streak goes on, capped at 32 min
      "18:53 schedule",
    ]);
  });

  test("the server up at a retry ends the backoff; the schedule is not moved by retries", () => {
    const plan = firstPlan(hourly, at(17, 52));
    expect(simulate(plan, at(19, 0), (now) => (now >= at(17, 55) ? up : down()))).toEqual([
      "17:53 schedule",
      "17:54 retry",
      "17:56 retry",
      "18:53 schedule",
    ]);
  });

  test("the backoff doubles, is capped at 32 × base, and jitter adds at most 10 %", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 20].map((n) => retryDelayMs(n, MIN, 0) / MIN)).toEqual([1, 2, 4, 8, 16, 32, 32, 32]);
    expect(retryDelayMs(1, 1000, 0.999)).toBe(1100);
    expect(retryDelayMs(3, 1000, 0.5)).toBe(4200);
  });

  test("only a first probe that found the server down for a curable reason is retried", () => {
    const plan = firstPlan(hourly, at(17, 52));
    const retried = (outcome: TickOutcome) => afterTick(plan, "schedule", outcome, at(17, 53), hourly, backoff).retry;
    for (const kind of ["refused", "timeout", "unreachable", "closed", "busy"] as const) expect(retried(down(kind))).toBe(at(17, 54));
    expect(retried(down("unauthorized"))).toBeNull();
    expect(retried(down("error"))).toBeNull();
    expect(retried(up)).toBeNull();
    // Up at the first probe, down at the end of the tick: the sources ran; nothing to retry.
    expect(retried({ server: "down", kind: "refused", results: [{ status: "sent" }] })).toBeNull();
  });
});

describe("requests and reloads", () => {
  test("a request is due at once and served by the next tick to start, without moving the schedule", () => {
    let plan = firstPlan(hourly, at(17, 52));
    plan = afterTick(tickStarted(plan), "schedule", up, at(17, 53), hourly, backoff);
    plan = { ...plan, requested: true };
    expect(dueAt(plan)).toBeLessThanOrEqual(at(18, 10));
    expect(triggerAt(plan, at(18, 10))).toBe("request");
    plan = afterTick(tickStarted(plan), "request", up, at(18, 10), hourly, backoff);
    expect(plan.requested).toBe(false);
    expect(hhmm(plan.scheduled)).toBe("18:53");
    // A request made while a tick runs survives that tick.
    const during = afterTick({ ...tickStarted(plan), requested: true }, "schedule", up, at(18, 53), hourly, backoff);
    expect(during.requested).toBe(true);
  });

  test("a due scheduled tick serves a pending request and retry", () => {
    const plan: TickPlan = { scheduled: at(18, 53), retry: at(18, 50), downStreak: 3, requested: true };
    expect(triggerAt(plan, at(18, 53))).toBe("schedule");
    expect(triggerAt(plan, at(18, 51))).toBe("request");
    expect(triggerAt({ ...plan, requested: false }, at(18, 51))).toBe("retry");
    expect(triggerAt({ ...plan, requested: false }, at(18, 49))).toBeNull();
  });

  test("a new schedule keeps a retry only if it still comes first; another process's Up tick cancels it", () => {
    const plan: TickPlan = { scheduled: at(18, 53), retry: at(18, 0), downStreak: 3, requested: false };
    expect(rescheduled(plan, at(18, 30)).retry).toBe(at(18, 0));
    expect(rescheduled(plan, at(17, 59)).retry).toBeNull();
    expect(serverSeenUp(plan)).toEqual({ ...plan, retry: null, downStreak: 0 });
  });

  test("an every schedule ticks at start, a cron one at its first time", () => {
    expect(firstPlan(inUtc("every 30m"), at(17, 52)).scheduled).toBe(at(17, 52));
    expect(firstPlan(hourly, at(17, 52, 30)).scheduled).toBe(at(17, 53));
  });
});

describe("splay", () => {
  const sevenLate = inUtc("53 * * * *", 7 * MIN);

  test("every scheduled tick is late by the client's offset; retries and requests are not", () => {
    const plan = firstPlan(sevenLate, at(17, 52));
    expect(hhmm(plan.scheduled)).toBe("18:00");
    expect(simulate(plan, at(19, 10), (now) => (now >= at(18, 3) ? up : down()), sevenLate)).toEqual([
      "18:00 schedule",
      "18:01 retry",
      "18:03 retry",
      "19:00 schedule",
    ]);
    let requested = afterTick(tickStarted(plan), "schedule", up, at(18, 0), sevenLate, backoff);
    requested = { ...requested, requested: true };
    expect(dueAt(requested)).toBe(0);
    expect(hhmm(afterTick(tickStarted(requested), "request", up, at(18, 20), sevenLate, backoff).scheduled)).toBe("19:00");
  });

  test("a daemon started between a scheduled time and its late tick still makes that tick", () => {
    expect(hhmm(firstPlan(sevenLate, at(17, 55)).scheduled)).toBe("18:00");
  });

  test("an offset longer than the schedule's step skips no scheduled time", () => {
    const quarterly = inUtc("*/15 * * * *", 20 * MIN);
    expect(simulate(firstPlan(quarterly, at(17, 0)), at(18, 0), () => up, quarterly)).toEqual([
      "17:05 schedule",
      "17:20 schedule",
      "17:35 schedule",
      "17:50 schedule",
    ]);
  });

  test("an every schedule starts late by the offset, then keeps its interval", () => {
    const every = inUtc("every 30m", 7 * MIN);
    expect(simulate(firstPlan(every, at(17, 0)), at(18, 30), () => up, every)).toEqual([
      "17:07 schedule",
      "17:37 schedule",
      "18:07 schedule",
    ]);
  });
});
