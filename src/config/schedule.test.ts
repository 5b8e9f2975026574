import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { checkSchedule, nextRun, parseSchedule, type Schedule } from "./schedule.ts";

const at = (iso: string): number => Date.parse(iso);
const iso = (ms: number): string => new Date(ms).toISOString();

function schedule(text: string): Schedule {
  const s = parseSchedule(text);
  if (!s) throw new Error(`test schedule ${text} did not parse`);
  return s;
}

describe("every", () => {
  test("runs one interval after the given time", () => {
    expect(nextRun(schedule("every 30m"), at("2026-01-01T05:00:00Z"))).toBe(at("2026-01-01T05:30:00Z"));
    expect(nextRun(schedule("every 1d"), 1000)).toBe(1000 + 86_400_000);
    expect(nextRun(schedule("every 1s"), 0)).toBe(1000);
  });

  test("refuses bad intervals with a way out", () => {
    expect(checkSchedule("every 30 minutes")).toEqual({
      ok: false,
      message: '"30 minutes" is not a duration in "every 30 minutes"',
      hint: "write every 30s, every 15m, every 6h or every 1d; the least is 1s",
    });
    expect(checkSchedule("every 0s")).toMatchObject({ ok: false, message: 'interval 0s is shorter than 1s in "every 0s"' });
    expect(checkSchedule("every")).toMatchObject({ ok: false, message: 'nothing is not a duration in "every"' });
  });
});

describe("cron fields", () => {
  const cases: [string, string, string][] = [
    ["61 3 * * *", 'minute 61 is out of range 0-59 in "61 3 * * *"', "minute is 0-59"],
    ["0 24 * * *", 'hour 24 is out of range 0-23 in "0 24 * * *"', "hour is 0-23, in UTC"],
    ["0 3 0 * *", 'day-of-month 0 is out of range 1-31 in "0 3 0 * *"', "day-of-month is 1-31"],
    ["0 3 32 * *", 'day-of-month 32 is out of range 1-31 in "0 3 32 * *"', "day-of-month is 1-31"],
    ["0 3 * 13 *", 'month 13 is out of range 1-12 in "0 3 * 13 *"', "month is 1-12 or jan, feb, ..., dec"],
    ["0 3 * foo *", 'month "foo" is not a number or a name in "0 3 * foo *"', "month is 1-12 or jan, feb, ..., dec"],
    [
      "0 3 * * 8",
      'day-of-week 8 is out of range 0-7 in "0 3 * * 8"',
      "day-of-week is 0-7 or sun, mon, tue, wed, thu, fri, sat; 0 and 7 are Sunday",
    ],
    [
      "0 3 * * funday",
      'day-of-week "funday" is not a number or a name in "0 3 * * funday"',
      "day-of-week is 0-7 or sun, mon, tue, wed, thu, fri, sat; 0 and 7 are Sunday",
    ],
    ["x 3 * * *", 'minute "x" is not a number in "x 3 * * *"', "minute is 0-59"],
    ["*/0 * * * *", 'minute step "0" is not a whole number of at least 1 in "*/0 * * * *"', "minute is 0-59"],
    ["5-1 * * * *", 'minute range 5-1 is reversed in "5-1 * * * *"', "minute is 0-59"],
    ["5/10 * * * *", 'minute step "5/10" needs a range, like 5-59/10 or */10 in "5/10 * * * *"', "minute is 0-59"],
    ["1,,2 * * * *", 'minute "" is not a value, range or step in "1,,2 * * * *"', "minute is 0-59"],
    ["0 1-2-3 * * *", 'hour "1-2-3" is not a value or a range in "0 1-2-3 * * *"', "hour is 0-23, in UTC"],
  ];
  for (const [text, message, hint] of cases) {
    test(`"${text}" is refused`, () => {
      expect(checkSchedule(text)).toEqual({ ok: false, message, hint });
    });
  }

  test("counts the fields", () => {
    expect(checkSchedule("0 3 * *")).toEqual({
      ok: false,
      message: '"0 3 * *" has 4 fields, a cron expression has 5',
      hint: 'write "every 30m" or 5 fields: minute hour day-of-month month day-of-week, in UTC, e.g. "0 3 * * *"',
    });
    expect(checkSchedule("@daily")).toMatchObject({ ok: false, message: '"@daily" has 1 fields, a cron expression has 5' });
  });

  test("refuses a day that its months never have", () => {
    expect(checkSchedule("0 0 31 2 *")).toEqual({
      ok: false,
      message: '"0 0 31 2 *" never runs: its days of month do not exist in its months',
      hint: "pick days that exist in the chosen months; February has at most 29",
    });
    expect(checkSchedule("0 0 30,31 feb *").ok).toBe(false);
    // With both day fields restricted, the weekday alone can fire it.
    expect(checkSchedule("0 0 31 2 mon").ok).toBe(true);
  });

  test("reads lists, ranges, steps, names and 7 as Sunday", () => {
    const s = schedule("0,30 8-18/2 1-10/3 jan,JUL-sep mon-fri,7");
    expect(s).toEqual({
      kind: "cron",
      minutes: [0, 30],
      hours: [8, 10, 12, 14, 16, 18],
      daysOfMonth: [1, 4, 7, 10],
      months: [1, 7, 8, 9],
      daysOfWeek: [0, 1, 2, 3, 4, 5],
      domRestricted: true,
      dowRestricted: true,
    });
  });
});

describe("nextRun on cron, in UTC", () => {
  test("daily at 03:00", () => {
    const s = schedule("0 3 * * *");
    expect(iso(nextRun(s, at("2026-01-01T05:00:00Z")))).toBe("2026-01-02T03:00:00.000Z");
    expect(iso(nextRun(s, at("2026-01-01T02:59:59.999Z")))).toBe("2026-01-01T03:00:00.000Z");
    // Strictly after: a tick that ran at 03:00 sharp waits for the next day.
    expect(iso(nextRun(s, at("2026-01-01T03:00:00Z")))).toBe("2026-01-02T03:00:00.000Z");
    expect(iso(nextRun(s, at("2026-12-31T04:00:00Z")))).toBe("2027-01-01T03:00:00.000Z");
  });

  test("every quarter hour", () => {
    const s = schedule("*/15 * * * *");
    expect(iso(nextRun(s, at("2026-03-10T10:07:30Z")))).toBe("2026-03-10T10:15:00.000Z");
    expect(iso(nextRun(s, at("2026-03-10T10:45:00Z")))).toBe("2026-03-10T11:00:00.000Z");
    expect(iso(nextRun(s, at("2026-03-10T23:59:00Z")))).toBe("2026-03-11T00:00:00.000Z");
  });

  test("both day fields restricted: the 13th or any Friday", () => {
    // January 2026: Thursday the 1st, so Fridays fall on 2, 9, 16; the 13th is a Tuesday.
    const s = schedule("0 0 13 * 5");
    expect(iso(nextRun(s, at("2026-01-03T00:00:00Z")))).toBe("2026-01-09T00:00:00.000Z");
    expect(iso(nextRun(s, at("2026-01-09T00:00:00Z")))).toBe("2026-01-13T00:00:00.000Z");
    expect(iso(nextRun(s, at("2026-01-13T00:00:00Z")))).toBe("2026-01-16T00:00:00.000Z");
  });

  test("a day field starting with * makes both day fields required", () => {
    // Days 1, 11, 21, 31 that are Mondays: none until Monday 11 May 2026 (1 May 2026 is a Friday).
    expect(iso(nextRun(schedule("0 0 */10 * 1"), at("2026-01-01T00:00:00Z")))).toBe("2026-05-11T00:00:00.000Z");
    // Written as a list, the same days restrict, so any Monday runs it: Monday 5 January.
    expect(iso(nextRun(schedule("0 0 1,11,21,31 * 1"), at("2026-01-01T00:00:00Z")))).toBe("2026-01-05T00:00:00.000Z");
  });

  test("29 February waits for a leap year", () => {
    const s = schedule("0 0 29 2 *");
    expect(iso(nextRun(s, at("2026-01-01T00:00:00Z")))).toBe("2028-02-29T00:00:00.000Z");
    expect(iso(nextRun(s, at("2028-02-29T00:00:00Z")))).toBe("2032-02-29T00:00:00.000Z");
  });

  test("names and Sunday as 7", () => {
    // 30 January 2026 is a Friday; 31 is a Saturday; 1 July 2026 is a Wednesday.
    expect(iso(nextRun(schedule("30 2 * jan,jul mon-fri"), at("2026-01-30T03:00:00Z")))).toBe("2026-07-01T02:30:00.000Z");
    expect(iso(nextRun(schedule("0 12 * * 7"), at("2026-01-01T00:00:00Z")))).toBe("2026-01-04T12:00:00.000Z");
  });

  test("agrees with a minute-by-minute search", () => {
    const set = (min: number, max: number) =>
      fc.uniqueArray(fc.integer({ min, max }), { minLength: 1, maxLength: 4 }).map((a) => a.join(","));
    const field = (min: number, max: number) =>
      fc.oneof(
        fc.constant("*"),
        set(min, max),
        fc.integer({ min: 2, max: 9 }).map((n) => `*/${n}`),
      );
    const cron = fc.tuple(set(0, 59), field(0, 23), field(1, 31), field(1, 12), field(0, 7)).map((f) => f.join(" "));
    const after = fc.integer({ min: at("2026-01-01T00:00:00Z"), max: at("2030-01-01T00:00:00Z") });
    fc.assert(
      fc.property(cron, after, (text, afterMs) => {
        const s = parseSchedule(text);
        fc.pre(s !== null); // e.g. "0 0 31 2 *" never runs and is refused
        expect(nextRun(s!, afterMs)).toBe(bruteForce(s, afterMs));
      }),
      { numRuns: 200 },
    );
  });
});

/** Reference: walk day by day, then try every minute of a matching day (15 years bounds any generated case). */
function bruteForce(s: Schedule, afterMs: number): number {
  if (s.kind !== "cron") throw new Error("cron only");
  const firstDay = Math.floor(afterMs / 86_400_000) * 86_400_000;
  for (let day = firstDay; day < afterMs + 15 * 366 * 86_400_000; day += 86_400_000) {
    const d = new Date(day);
    const dom = s.daysOfMonth.includes(d.getUTCDate());
    const dow = s.daysOfWeek.includes(d.getUTCDay());
    if (!(s.domRestricted && s.dowRestricted ? dom || dow : dom && dow) || !s.months.includes(d.getUTCMonth() + 1)) continue;
    for (let t = day; t < day + 86_400_000; t += 60_000) {
      const m = new Date(t);
      if (t > afterMs && s.hours.includes(m.getUTCHours()) && s.minutes.includes(m.getUTCMinutes())) return t;
    }
  }
  throw new Error("no run within 15 years");
}
