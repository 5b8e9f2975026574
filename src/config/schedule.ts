// Backup schedules: "every <duration>" or a 5-field cron expression evaluated in UTC; pure, no timers.
import { HashRelayError } from "../errors.ts";
import { parseDuration } from "./units.ts";

export type Schedule =
  | { kind: "every"; intervalMs: number }
  | {
      kind: "cron";
      /** Allowed values of each field, sorted. Day-of-week uses 0-6 (Sunday = 0; a written 7 becomes 0). */
      minutes: readonly number[];
      hours: readonly number[];
      daysOfMonth: readonly number[];
      months: readonly number[];
      daysOfWeek: readonly number[];
      /** Vixie cron: a field "restricts" unless it starts with "*". Both restricted: a day matches either; otherwise both. */
      domRestricted: boolean;
      dowRestricted: boolean;
    };

export type ScheduleCheck = { ok: true; schedule: Schedule } | { ok: false; message: string; hint: string };

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: readonly string[];
  hint: string;
}

const FIELDS: readonly FieldSpec[] = [
  { name: "minute", min: 0, max: 59, hint: "minute is 0-59" },
  { name: "hour", min: 0, max: 23, hint: "hour is 0-23, in UTC" },
  { name: "day-of-month", min: 1, max: 31, hint: "day-of-month is 1-31" },
  {
    name: "month",
    min: 1,
    max: 12,
    names: ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
    hint: "month is 1-12 or jan, feb, ..., dec",
  },
  {
    name: "day-of-week",
    min: 0,
    max: 7,
    names: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
    hint: "day-of-week is 0-7 or sun, mon, tue, wed, thu, fri, sat; 0 and 7 are Sunday",
  },
];

const MIN_INTERVAL_MS = 1_000;
const EVERY_HINT = "write every 30s, every 15m, every 6h or every 1d; the least is 1s";
const CRON_HINT = 'write "every 30m" or 5 fields: minute hour day-of-month month day-of-week, in UTC, e.g. "0 3 * * *"';
/** Longest day of each month (February counts its leap day). */
const MONTH_MAX_DAY = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
/** A fixed day of month falls on a given weekday at least once every 11 years; 40 years bounds any valid search. */
const SEARCH_LIMIT_MS = 40 * 366 * 86_400_000;

/** Parses a schedule, explaining what is wrong and how to write it instead; never throws. */
export function checkSchedule(text: string): ScheduleCheck {
  const trimmed = text.trim();
  const every = /^every(?:\s+(.*))?$/.exec(trimmed);
  if (every) return checkEvery(trimmed, every[1] ?? "");

  const fields = trimmed === "" ? [] : trimmed.split(/\s+/);
  if (fields.length !== 5) {
    return { ok: false, message: `"${trimmed}" has ${fields.length} fields, a cron expression has 5`, hint: CRON_HINT };
  }
  const sets: number[][] = [];
  for (const [i, spec] of FIELDS.entries()) {
    const parsed = parseField(fields[i]!, spec);
    if (typeof parsed === "string") return { ok: false, message: `${parsed} in "${trimmed}"`, hint: spec.hint };
    sets.push(parsed);
  }
  const [minutes, hours, daysOfMonth, months, rawDaysOfWeek] = sets as [number[], number[], number[], number[], number[]];
  const daysOfWeek = [...new Set(rawDaysOfWeek.map((d) => d % 7))].sort((a, b) => a - b);
  const schedule: Schedule = {
    kind: "cron",
    minutes,
    hours,
    daysOfMonth,
    months,
    daysOfWeek,
    domRestricted: !fields[2]!.startsWith("*"),
    dowRestricted: !fields[4]!.startsWith("*"),
  };
  // Only when both day fields restrict can a weekday stand in for a missing day of month.
  const dayOfMonthRequired = !(schedule.domRestricted && schedule.dowRestricted);
  if (dayOfMonthRequired && !months.some((m) => daysOfMonth.some((d) => d <= MONTH_MAX_DAY[m - 1]!))) {
    return {
      ok: false,
      message: `"${trimmed}" never runs: its days of month do not exist in its months`,
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
 * whole UTC minute the cron fields allow. Throws INTERNAL for a cron that never runs (checkSchedule refuses those).
 */
export function nextRun(schedule: Schedule, afterMs: number): number {
  if (schedule.kind === "every") return afterMs + schedule.intervalMs;
  const { minutes, hours, months } = schedule;
  let t = Math.floor(afterMs / 60_000) * 60_000 + 60_000;
  while (t - afterMs < SEARCH_LIMIT_MS) {
    const d = new Date(t);
    const [year, month, day, hour] = [d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours()];
    if (!months.includes(month + 1)) t = Date.UTC(year, month + 1, 1);
    else if (!dayMatches(schedule, day, d.getUTCDay())) t = Date.UTC(year, month, day + 1);
    else if (!hours.includes(hour)) t = Date.UTC(year, month, day, hour + 1);
    else if (!minutes.includes(d.getUTCMinutes())) t += 60_000;
    else return t;
  }
  throw new HashRelayError("INTERNAL", "cron schedule never runs", "check the schedule with: hashrelay validate");
}

function dayMatches(s: Extract<Schedule, { kind: "cron" }>, dayOfMonth: number, dayOfWeek: number): boolean {
  const dom = s.daysOfMonth.includes(dayOfMonth);
  const dow = s.daysOfWeek.includes(dayOfWeek);
  return s.domRestricted && s.dowRestricted ? dom || dow : dom && dow;
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

/** One cron field → its sorted values, or a message naming the field and the bad part. */
function parseField(text: string, spec: FieldSpec): number[] | string {
  const values = new Set<number>();
  for (const item of text.split(",")) {
    const [range, step, extra] = item.split("/");
    if (extra !== undefined || range === "") return `${spec.name} "${item}" is not a value, range or step`;
    let lo = spec.min;
    let hi = spec.max;
    if (range !== "*") {
      const bounds = range!.split("-");
      if (bounds.length > 2) return `${spec.name} "${range}" is not a value or a range`;
      const parsed: number[] = [];
      for (const b of bounds) {
        const v = fieldValue(b, spec);
        if (typeof v === "string") return v;
        parsed.push(v);
      }
      lo = parsed[0]!;
      hi = parsed[1] ?? lo;
      if (lo > hi) return `${spec.name} range ${range} is reversed`;
      if (step !== undefined && bounds.length === 1)
        return `${spec.name} step "${item}" needs a range, like ${lo}-${spec.max}/${step} or */${step}`;
    }
    let by = 1;
    if (step !== undefined) {
      if (!/^[0-9]+$/.test(step) || Number(step) < 1) return `${spec.name} step "${step}" is not a whole number of at least 1`;
      by = Number(step);
    }
    for (let v = lo; v <= hi; v += by) values.add(v);
  }
  return [...values].sort((a, b) => a - b);
}

function fieldValue(text: string, spec: FieldSpec): number | string {
  if (/^[0-9]+$/.test(text)) {
    const v = Number(text);
    return v < spec.min || v > spec.max ? `${spec.name} ${text} is out of range ${spec.min}-${spec.max}` : v;
  }
  const index = spec.names?.indexOf(text.toLowerCase()) ?? -1;
  if (index >= 0) return spec.min + index;
  return `${spec.name} "${text}" is not a ${spec.names ? "number or a name" : "number"}`;
}
