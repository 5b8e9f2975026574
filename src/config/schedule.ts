// Backup schedules: "every <duration>", or a cron expression that croner evaluates in a given time zone; pure, no timers.
//
// Why croner (pinned in package.json) rather than our own evaluator: time zones with Vixie cron's DST
// rules (a fixed time in the spring-forward gap runs once, right after it; a fixed time in the repeated
// fall-back hour runs once, at its first occurrence), and L, W and # in the day fields; it has no
// dependencies and adds 33 KB (minified) to the bundle. What it lacks, we keep: Vixie cron's day rule (below) and
// messages in the admin's words (cron-fields.ts).
import { Cron } from "croner";
import { HashRelayError } from "../errors.ts";
import { CRON_HINT, parseCronFields } from "./cron-fields.ts";
import { parseDuration } from "./units.ts";

export type Schedule =
  | { kind: "every"; intervalMs: number }
  | {
      kind: "cron";
      /** The expression as written (trimmed): 5 fields, or a nickname such as @daily. */
      pattern: string;
      /**
       * Vixie cron: a day field "restricts" unless it starts with "*". Both restrict: a day matches
       * either (the 13th or a Friday); otherwise both must match. croner joins them with OR unless told.
       */
      domAndDow: boolean;
    };

export type ScheduleCheck = { ok: true; schedule: Schedule } | { ok: false; message: string; hint: string };

const MIN_INTERVAL_MS = 1_000;
const EVERY_HINT = "write every 30s, every 15m, every 6h or every 1d; the least is 1s";
/** A cron expression without a year repeats every 400 years: one that finds no run after this never runs. */
const NEVER_RUNS_PROBE = Date.UTC(2000, 0, 1);

/** Parses a schedule, explaining what is wrong and how to write it instead; never throws. */
export function checkSchedule(text: string): ScheduleCheck {
  const trimmed = text.trim();
  const every = /^every(?:\s+(.*))?$/.exec(trimmed);
  if (every) return checkEvery(trimmed, every[1] ?? "");

  const fields = trimmed.split(/\s+/);
  const schedule: Schedule = {
    kind: "cron",
    pattern: trimmed,
    domAndDow: fields.length !== 5 || /^[*?]/.test(fields[2]!) || /^[*?]/.test(fields[4]!),
  };
  let first: Date | null;
  try {
    first = cronOf(schedule, "UTC").nextRun(new Date(NEVER_RUNS_PROBE));
  } catch (err) {
    return { ok: false, ...explainRefusal(trimmed, err) };
  }
  if (first === null) {
    return {
      ok: false,
      message: `"${trimmed}" never runs: no date has the days and months it asks for`,
      hint: "pick days that exist in the chosen months; February has at most 29",
    };
  }
  return { ok: true, schedule };
}

/** The schedule, or null when checkSchedule would explain an error. */
export function parseSchedule(text: string): Schedule | null {
  const checked = checkSchedule(text);
  return checked.ok ? checked.schedule : null;
}

/**
 * The first run strictly after `afterMs` (epoch ms): afterMs + interval for "every", else the next
 * minute the cron expression allows on the wall clock of `timeZone` (an IANA name, checked by
 * checkTimeZone), with croner's DST rules. Throws INTERNAL for a cron that never runs (checkSchedule
 * refuses those) or a zone croner does not know.
 */
export function nextRun(schedule: Schedule, afterMs: number, timeZone: string): number {
  if (schedule.kind === "every") return afterMs + schedule.intervalMs;
  let next: Date | null;
  try {
    next = cronOf(schedule, timeZone).nextRun(new Date(afterMs));
  } catch (err) {
    throw new HashRelayError("INTERNAL", `cron schedule "${schedule.pattern}" in ${timeZone}: ${String(err)}`, "", { cause: err });
  }
  if (next === null) {
    throw new HashRelayError("INTERNAL", "cron schedule never runs", "check the schedule with: hashrelay validate");
  }
  return next.getTime();
}

/**
 * A croner evaluator; never given a function, so it arms no timer. "no-wildcard": like Vixie cron, a
 * schedule without * or a step in its minute and hour fields is a fixed time, which a DST gap delays
 * rather than skips (croner's default would skip "30 2,14 * * *" on the spring-forward day).
 */
function cronOf(schedule: Extract<Schedule, { kind: "cron" }>, timeZone: string): Cron {
  return new Cron(schedule.pattern, {
    timezone: timeZone,
    mode: "5-part",
    domAndDow: schedule.domAndDow,
    fixedTimeRule: "no-wildcard",
  });
}

/** Why croner refused an expression: the field at fault in our words when the plain syntax shows it, else croner's own message. */
function explainRefusal(text: string, err: unknown): { message: string; hint: string } {
  if (text.startsWith("@")) {
    return { message: `"${text}" is not a schedule nickname`, hint: "write @hourly, @daily, @weekly, @monthly or @yearly" };
  }
  const fields = parseCronFields(text);
  if ("message" in fields) return fields;
  const reason = (err instanceof Error ? err.message : String(err)).replace(/^CronPattern:\s*/, "");
  return { message: `"${text}" is not a cron expression: ${reason}`, hint: CRON_HINT };
}

function checkEvery(text: string, arg: string): ScheduleCheck {
  const ms = parseDuration(arg);
  if (ms === null) {
    const what = arg === "" ? "nothing" : `"${arg}"`;
    return { ok: false, message: `${what} is not a duration in "${text}"`, hint: EVERY_HINT };
  }
  if (ms < MIN_INTERVAL_MS) return { ok: false, message: `interval ${arg} is shorter than 1s in "${text}"`, hint: EVERY_HINT };
  return { ok: true, schedule: { kind: "every", intervalMs: ms } };
}
