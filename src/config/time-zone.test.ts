import { expect, test } from "bun:test";
import { checkTimeZone, wallClock } from "./time-zone.ts";

test("an IANA name is taken as the time zone data spells it; others are refused", () => {
  expect(checkTimeZone("europe/paris")).toEqual({ ok: true, zone: "Europe/Paris" });
  expect(checkTimeZone("UTC")).toEqual({ ok: true, zone: "UTC" });
  expect(checkTimeZone("America/Argentina/Buenos_Aires")).toMatchObject({ ok: true });
  expect(checkTimeZone("Mars/Olympus_Mons")).toMatchObject({
    ok: false,
    message: '"Mars/Olympus_Mons" is not a time zone this program knows',
  });
  expect(checkTimeZone("+02:00")).toMatchObject({ ok: false, message: '"+02:00" is not a time zone name' });
  expect(checkTimeZone("local")).toMatchObject({ ok: false });
});

test("the wall clock of a zone, on both sides of a DST change", () => {
  expect(wallClock(Date.parse("2026-03-29T00:59:59Z"), "Europe/Paris")).toBe("2026-03-29 01:59:59");
  expect(wallClock(Date.parse("2026-03-29T01:00:00Z"), "Europe/Paris")).toBe("2026-03-29 03:00:00");
  expect(wallClock(Date.parse("2026-10-25T00:30:00Z"), "Europe/Paris")).toBe("2026-10-25 02:30:00");
  expect(wallClock(Date.parse("2026-10-25T01:30:00Z"), "Europe/Paris")).toBe("2026-10-25 02:30:00");
  expect(wallClock(Date.parse("2026-01-01T00:00:00Z"), "UTC")).toBe("2026-01-01 00:00:00");
});
