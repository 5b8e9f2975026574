// The five fields of a cron expression read one by one, so that a mistake is named in the admin's words.
//
// croner (src/config/schedule.ts) evaluates schedules; its own messages name internal values ("Invalid
// value for day: -1" for a day of month 0), so a refused expression is explained from these fields instead.
// The tests also use the field sets as the reference that croner's runs are checked against.

/** Allowed values of each field, sorted. Day-of-week uses 0-6 (Sunday = 0; a written 7 becomes 0). */
export interface CronFields {
  minutes: readonly number[];
  hours: readonly number[];
  daysOfMonth: readonly number[];
  months: readonly number[];
  daysOfWeek: readonly number[];
  /** Vixie cron: a day field "restricts" unless it starts with "*". Both restricted: a day matches either; otherwise both. */
  domRestricted: boolean;
  dowRestricted: boolean;
}

/** What is wrong with an expression, and what to write instead. */
export interface CronProblem {
  message: string;
  hint: string;
}

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: readonly string[];
  hint: string;
}

export const CRON_HINT =
  'write "every 30m" or 5 fields: minute hour day-of-month month day-of-week, in the schedule\'s time zone, e.g. "0 3 * * *"';

const FIELDS: readonly FieldSpec[] = [
  { name: "minute", min: 0, max: 59, hint: "minute is 0-59" },
  { name: "hour", min: 0, max: 23, hint: "hour is 0-23, in the schedule's time zone (client.timezone, else the machine's)" },
  { name: "day-of-month", min: 1, max: 31, hint: "day-of-month is 1-31, L (the last day) or 15W (the weekday nearest the 15th)" },
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
    hint: "day-of-week is 0-7 or sun, mon, ..., sat (0 and 7 are Sunday); fri#1 to fri#5: the first to fifth Friday, fri#L: the last",
  },
];

/** The field sets of a plain 5-field expression (numbers, names, lists, ranges, steps), or the first problem found. */
export function parseCronFields(text: string): CronFields | CronProblem {
  const fields = text === "" ? [] : text.split(/\s+/);
  if (fields.length !== 5) return { message: `"${text}" has ${fields.length} fields, a cron expression has 5`, hint: CRON_HINT };
  const sets: number[][] = [];
  for (const [i, spec] of FIELDS.entries()) {
    const parsed = parseField(fields[i]!, spec);
    if (typeof parsed === "string") return { message: `${parsed} in "${text}"`, hint: spec.hint };
    sets.push(parsed);
  }
  const [minutes, hours, daysOfMonth, months, rawDaysOfWeek] = sets as [number[], number[], number[], number[], number[]];
  const daysOfWeek = [...new Set(rawDaysOfWeek.map((d) => d % 7))].sort((a, b) => a - b);
  const domRestricted = !fields[2]!.startsWith("*");
  const dowRestricted = !fields[4]!.startsWith("*");
  return { minutes, hours, daysOfMonth, months, daysOfWeek, domRestricted, dowRestricted };
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
