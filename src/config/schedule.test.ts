import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { parseCronFields, type CronFields } from "./cron-fields.ts";
import { checkSchedule, nextRun, parseSchedule, type Schedule } from "./schedule.ts";

const at = (iso: string): number => Date.parse(iso);
const iso = (ms: number): string => new Date(ms).toISOString();

function schedule(text: string): Schedule {
  const s = parseSchedule(text);
  if (!s) throw new Error(`test schedule ${text} did not parse`);
  return s;
}

/** The runs after `from`, `count` of them, as ISO times. */
function runs(text: string, from: string, zone: string, count: number): string[] {
  const out: string[] = [];
  let t = at(from);
  for (let i = 0; i < count; i++) out.push(iso((t = nextRun(schedule(text), t, zone))));
  return out;
}

describe("every", () => {
  test("runs one interval after the given time", () => {
    expect(nextRun(schedule("every 30m"), at("2026-01-01T05:00:00Z"), "UTC")).toBe(at("2026-01-01T05:30:00Z"));
    // An interval is real time: a DST change on the way does not stretch or shrink it.
    expect(nextRun(schedule("every 1d"), at("2026-03-28T12:00:00Z"), "Europe/Paris")).toBe(at("2026-03-29T12:00:00Z"));
    expect(nextRun(schedule("every 1s"), 0, "UTC")).toBe(1000);
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
  const HOUR = "hour is 0-23, in the schedule's time zone (client.timezone, else the machine's)";
  const DOM = "day-of-month is 1-31, L (the last day) or 15W (the weekday nearest the 15th)";
  const MONTH = "month is 1-12 or jan, feb, ..., dec";
  const DOW = "day-of-week is 0-7 or sun, mon, ..., sat (0 and 7 are Sunday); fri#1 to fri#5: the first to fifth Friday, fri#L: the last";
  const cases: [string, string, string][] = [
    ["61 3 * * *", 'minute 61 is out of range 0-59 in "61 3 * * *"', "minute is 0-59"],
    ["0 24 * * *", 'hour 24 is out of range 0-23 in "0 24 * * *"', HOUR],
    ["0 3 0 * *", 'day-of-month 0 is out of range 1-31 in "0 3 0 * *"', DOM],
    ["0 3 32 * *", 'day-of-month 32 is out of range 1-31 in "0 3 32 * *"', DOM],
    ["0 3 * 13 *", 'month 13 is out of range 1-12 in "0 3 * 13 *"', MONTH],
    ["0 3 * foo *", 'month "foo" is not a number or a name in "0 3 * foo *"', MONTH],
    ["0 3 * * 8", 'day-of-week 8 is out of range 0-7 in "0 3 * * 8"', DOW],
    ["0 3 * * funday", 'day-of-week "funday" is not a number or a name in "0 3 * * funday"', DOW],
    ["0 3 * * fri#6", 'day-of-week "fri#6" is not a number or a name in "0 3 * * fri#6"', DOW],
    ["x 3 * * *", 'minute "x" is not a number in "x 3 * * *"', "minute is 0-59"],
    ["*/0 * * * *", 'minute step "0" is not a whole number of at least 1 in "*/0 * * * *"', "minute is 0-59"],
    ["5-1 * * * *", 'minute range 5-1 is reversed in "5-1 * * * *"', "minute is 0-59"],
    ["5/10 * * * *", 'minute step "5/10" needs a range, like 5-59/10 or */10 in "5/10 * * * *"', "minute is 0-59"],
    ["1,,2 * * * *", 'minute "" is not a value, range or step in "1,,2 * * * *"', "minute is 0-59"],
    ["0 1-2-3 * * *", 'hour "1-2-3" is not a value or a range in "0 1-2-3 * * *"', HOUR],
  ];
  for (const [text, message, hint] of cases) {
    test(`"${text}" is refused`, () => {
      expect(checkSchedule(text)).toEqual({ ok: false, message, hint });
    });
  }

  test("counts the fields; knows the nicknames", () => {
    expect(checkSchedule("0 3 * *")).toEqual({
      ok: false,
      message: '"0 3 * *" has 4 fields, a cron expression has 5',
      hint: 'write "every 30m" or 5 fields: minute hour day-of-month month day-of-week, in the schedule\'s time zone, e.g. "0 3 * * *"',
    });
    expect(checkSchedule("0 0 3 * * *")).toMatchObject({ ok: false, message: '"0 0 3 * * *" has 6 fields, a cron expression has 5' });
    expect(checkSchedule("@fortnightly")).toEqual({
      ok: false,
      message: '"@fortnightly" is not a schedule nickname',
      hint: "write @hourly, @daily, @weekly, @monthly or @yearly",
    });
    expect(checkSchedule("@reboot").ok).toBe(false);
    expect(iso(nextRun(schedule("@daily"), at("2026-01-01T05:00:00Z"), "UTC"))).toBe("2026-01-02T00:00:00.000Z");
    expect(iso(nextRun(schedule("@weekly"), at("2026-01-01T05:00:00Z"), "UTC"))).toBe("2026-01-04T00:00:00.000Z");
  });

  test("refuses a day that its months never have", () => {
    expect(checkSchedule("0 0 31 2 *")).toEqual({
      ok: false,
      message: '"0 0 31 2 *" never runs: no date has the days and months it asks for',
      hint: "pick days that exist in the chosen months; February has at most 29",
    });
    expect(checkSchedule("0 0 30,31 feb *").ok).toBe(false);
    expect(checkSchedule("0 0 31 apr,jun,sep,nov *").ok).toBe(false);
    // With both day fields restricted, the weekday alone can fire it.
    expect(checkSchedule("0 0 31 2 mon").ok).toBe(true);
    // Rare but real: 29 February on a Monday, both required by "+" (2044).
    expect(iso(nextRun(schedule("0 0 29 2 +mon"), at("2026-01-01T00:00:00Z"), "UTC"))).toBe("2044-02-29T00:00:00.000Z");
  });

  test("reads lists, ranges, steps, names and 7 as Sunday", () => {
    expect(parseCronFields("0,30 8-18/2 1-10/3 jan,JUL-sep mon-fri,7")).toEqual({
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
    expect(iso(nextRun(s, at("2026-01-01T05:00:00Z"), "UTC"))).toBe("2026-01-02T03:00:00.000Z");
    expect(iso(nextRun(s, at("2026-01-01T02:59:59.999Z"), "UTC"))).toBe("2026-01-01T03:00:00.000Z");
    // Strictly after: a tick that ran at 03:00 sharp waits for the next day.
    expect(iso(nextRun(s, at("2026-01-01T03:00:00Z"), "UTC"))).toBe("2026-01-02T03:00:00.000Z");
    expect(iso(nextRun(s, at("2026-12-31T04:00:00Z"), "UTC"))).toBe("2027-01-01T03:00:00.000Z");
  });

  test("every quarter hour", () => {
    expect(runs("*/15 * * * *", "2026-03-10T10:07:30Z", "UTC", 1)).toEqual(["2026-03-10T10:15:00.000Z"]);
    expect(runs("*/15 * * * *", "2026-03-10T10:45:00Z", "UTC", 1)).toEqual(["2026-03-10T11:00:00.000Z"]);
    expect(runs("*/15 * * * *", "2026-03-10T23:59:00Z", "UTC", 1)).toEqual(["2026-03-11T00:00:00.000Z"]);
  });

  test("both day fields restricted: the 13th or any Friday", () => {
    // January 2026: Thursday the 1st, so Fridays fall on 2, 9, 16; the 13th is a Tuesday.
    expect(runs("0 0 13 * 5", "2026-01-03T00:00:00Z", "UTC", 3)).toEqual([
      "2026-01-09T00:00:00.000Z",
      "2026-01-13T00:00:00.000Z",
      "2026-01-16T00:00:00.000Z",
    ]);
  });

  test("a day field starting with * makes both day fields required (Vixie cron; croner alone would take either)", () => {
    // Days 1, 11, 21, 31 that are Mondays: none until Monday 11 May 2026 (1 May 2026 is a Friday).
    expect(runs("0 0 */10 * 1", "2026-01-01T00:00:00Z", "UTC", 1)).toEqual(["2026-05-11T00:00:00.000Z"]);
    // Written as a list, the same days restrict, so any Monday runs it: Monday 5 January.
    expect(runs("0 0 1,11,21,31 * 1", "2026-01-01T00:00:00Z", "UTC", 1)).toEqual(["2026-01-05T00:00:00.000Z"]);
  });

  test("29 February waits for a leap year", () => {
    expect(runs("0 0 29 2 *", "2026-01-01T00:00:00Z", "UTC", 2)).toEqual(["2028-02-29T00:00:00.000Z", "2032-02-29T00:00:00.000Z"]);
  });

  test("names and Sunday as 7", () => {
    // 30 January 2026 is a Friday; 31 is a Saturday; 1 July 2026 is a Wednesday.
    expect(runs("30 2 * jan,jul mon-fri", "2026-01-30T03:00:00Z", "UTC", 1)).toEqual(["2026-07-01T02:30:00.000Z"]);
    expect(runs("0 12 * * 7", "2026-01-01T00:00:00Z", "UTC", 1)).toEqual(["2026-01-04T12:00:00.000Z"]);
  });

  test("L, W and #: the last day, the nearest weekday, the n-th weekday", () => {
    expect(runs("0 3 L * *", "2026-01-01T00:00:00Z", "UTC", 3)).toEqual([
      "2026-01-31T03:00:00.000Z",
      "2026-02-28T03:00:00.000Z",
      "2026-03-31T03:00:00.000Z",
    ]);
    // 15 February 2026 is a Sunday: the nearest weekday is Monday the 16th.
    expect(runs("0 3 15W 2 *", "2026-01-01T00:00:00Z", "UTC", 1)).toEqual(["2026-02-16T03:00:00.000Z"]);
    expect(runs("0 3 * * fri#2", "2026-01-01T00:00:00Z", "UTC", 2)).toEqual(["2026-01-09T03:00:00.000Z", "2026-02-13T03:00:00.000Z"]);
    expect(runs("0 3 * * fri#L", "2026-01-01T00:00:00Z", "UTC", 1)).toEqual(["2026-01-30T03:00:00.000Z"]);
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
        expect(nextRun(s!, afterMs, "UTC")).toBe(bruteForce(parseCronFields(text) as CronFields, afterMs));
      }),
      { numRuns: 200 },
    );
  });
});

// Europe/Paris: clocks go 02:00 → 03:00 on Sunday 29 March 2026 and 03:00 → 02:00 on Sunday 25 October 2026.
describe("nextRun in a time zone, across DST", () => {
  test("0 3 * * * is 03:00 on the zone's wall clock, winter and summer", () => {
    expect(runs("0 3 * * *", "2026-01-10T12:00:00Z", "Europe/Paris", 1)).toEqual(["2026-01-11T02:00:00.000Z"]);
    expect(runs("0 3 * * *", "2026-07-10T12:00:00Z", "Europe/Paris", 1)).toEqual(["2026-07-11T01:00:00.000Z"]);
    expect(runs("0 3 * * *", "2026-07-10T12:00:00Z", "America/New_York", 1)).toEqual(["2026-07-11T07:00:00.000Z"]);
  });

  test("spring forward: 02:30 does not exist, the job runs once right after the gap, at 03:00", () => {
    expect(runs("30 2 * * *", "2026-03-28T00:00:00Z", "Europe/Paris", 3)).toEqual([
      "2026-03-28T01:30:00.000Z", // 02:30 CET
      "2026-03-29T01:00:00.000Z", // 03:00 CEST, the first minute after the gap
      "2026-03-30T00:30:00.000Z", // 02:30 CEST
    ]);
    // New York: 02:00 → 03:00 on Sunday 8 March 2026.
    expect(runs("30 2 * * *", "2026-03-07T12:00:00Z", "America/New_York", 2)).toEqual([
      "2026-03-08T07:00:00.000Z",
      "2026-03-09T06:30:00.000Z",
    ]);
  });

  test("fall back: 02:30 happens twice, the job runs once, at the first (summer time) one", () => {
    expect(runs("30 2 * * *", "2026-10-24T00:00:00Z", "Europe/Paris", 3)).toEqual([
      "2026-10-24T00:30:00.000Z", // 02:30 CEST
      "2026-10-25T00:30:00.000Z", // 02:30 CEST; not again at 02:30 CET (01:30Z)
      "2026-10-26T01:30:00.000Z", // 02:30 CET
    ]);
  });

  test("a list of fixed times is fixed too: the gap delays it, it does not skip it", () => {
    expect(runs("30 2,14 * * *", "2026-03-28T20:00:00Z", "Europe/Paris", 2)).toEqual([
      "2026-03-29T01:00:00.000Z",
      "2026-03-29T12:30:00.000Z",
    ]);
  });

  test("a step keeps its rhythm on the wall clock: the gap has no runs, the repeated hour runs twice", () => {
    // 01:30, then 03:00 (02:00 and 02:30 do not exist), 03:30 CEST.
    expect(runs("*/30 * * * *", "2026-03-29T00:10:00Z", "Europe/Paris", 3)).toEqual([
      "2026-03-29T00:30:00.000Z",
      "2026-03-29T01:00:00.000Z",
      "2026-03-29T01:30:00.000Z",
    ]);
    // 02:00 and 02:30 CEST, then 02:00 and 02:30 CET.
    expect(runs("*/30 * * * *", "2026-10-24T23:50:00Z", "Europe/Paris", 4)).toEqual([
      "2026-10-25T00:00:00.000Z",
      "2026-10-25T00:30:00.000Z",
      "2026-10-25T01:00:00.000Z",
      "2026-10-25T01:30:00.000Z",
    ]);
  });

  test("the process's own time zone (TZ) changes nothing: the zone is an input", () => {
    const script = `import { nextRun, parseSchedule } from "./src/config/schedule.ts";
      const s = parseSchedule("30 2 * * *");
      console.log([nextRun(s, Date.parse("2026-03-28T00:00:00Z"), "UTC"), nextRun(s, Date.parse("2026-03-28T00:00:00Z"), "Europe/Paris")].join(" "));`;
    const outputs = ["UTC", "Pacific/Kiritimati", "America/Adak"].map((tz) => {
      const run = Bun.spawnSync([process.execPath, "-e", script], { env: { ...process.env, TZ: tz }, cwd: `${import.meta.dir}/../..` });
      return run.stdout.toString().trim();
    });
    expect(outputs).toEqual(Array(3).fill(`${at("2026-03-28T02:30:00Z")} ${at("2026-03-28T01:30:00Z")}`));
  });
});

/** Reference: walk day by day, then try every minute of a matching day (15 years bounds any generated case). */
function bruteForce(s: CronFields, afterMs: number): number {
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
