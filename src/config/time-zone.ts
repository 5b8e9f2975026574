// Time zones: an IANA name checked and spelled as the runtime's time zone data knows it, and a wall clock read in one.

export type TimeZoneCheck = { ok: true; zone: string } | { ok: false; message: string; hint: string };

const ZONE_HINT = "write an IANA time zone name such as Europe/Paris, America/New_York or UTC, or leave the key out for the machine's";

/** "europe/paris" → "Europe/Paris"; an unknown name (or an offset like "+02:00") is refused. Never throws. */
export function checkTimeZone(name: string): TimeZoneCheck {
  if (!/^[A-Za-z][A-Za-z0-9_+\-/]*$/.test(name)) return { ok: false, message: `"${name}" is not a time zone name`, hint: ZONE_HINT };
  try {
    return { ok: true, zone: new Intl.DateTimeFormat("en-US", { timeZone: name }).resolvedOptions().timeZone };
  } catch {
    return { ok: false, message: `"${name}" is not a time zone this program knows`, hint: ZONE_HINT };
  }
}

/** The wall clock of `zone` at `ms`: "2026-03-29 03:00:00". */
export function wallClock(ms: number, zone: string): string {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: zone,
    hourCycle: "h23",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  }).formatToParts(new Date(ms));
  const part = (type: Intl.DateTimeFormatPartTypes) => parts.find((p) => p.type === type)?.value ?? "??";
  return `${part("year")}-${part("month")}-${part("day")} ${part("hour")}:${part("minute")}:${part("second")}`;
}
