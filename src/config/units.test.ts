import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { formatDuration, parseDuration, parseSize } from "./units.ts";

describe("parseDuration", () => {
  test("reads the four units", () => {
    expect(parseDuration("30s")).toBe(30_000);
    expect(parseDuration("15m")).toBe(900_000);
    expect(parseDuration("48h")).toBe(172_800_000);
    expect(parseDuration("7d")).toBe(604_800_000);
    expect(parseDuration("0s")).toBe(0);
  });

  test("refuses anything else", () => {
    for (const bad of ["", "48", "48 h", "48H", "1.5h", "-1s", "1w", "5ms", " 5s", "99999999999999999999d"]) {
      expect(parseDuration(bad)).toBeNull();
    }
  });
});

describe("parseSize", () => {
  test("reads bytes and binary units", () => {
    expect(parseSize("0")).toBe(0);
    expect(parseSize("1024")).toBe(1024);
    expect(parseSize("7B")).toBe(7);
    expect(parseSize("512KiB")).toBe(524_288);
    expect(parseSize("8MiB")).toBe(8_388_608);
    expect(parseSize("2GiB")).toBe(2_147_483_648);
    expect(parseSize("1TiB")).toBe(1_099_511_627_776);
  });

  test("refuses decimal units, spaces, fractions and signs", () => {
    for (const bad of ["", "8MB", "8 MiB", "8mib", "1.5MiB", "-1", "KiB", "99999999999TiB"]) expect(parseSize(bad)).toBeNull();
  });
});

describe("formatDuration", () => {
  test("uses the largest exact unit", () => {
    expect(formatDuration(172_800_000)).toBe("2d");
    expect(formatDuration(5_400_000)).toBe("90m");
    expect(formatDuration(3_600_000)).toBe("1h");
    expect(formatDuration(30_000)).toBe("30s");
    expect(formatDuration(1_500)).toBe("1500ms");
    expect(formatDuration(0)).toBe("0s");
  });

  test("parseDuration reads back every whole number of seconds", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 ** 9 }), (seconds) => {
        expect(parseDuration(formatDuration(seconds * 1000))).toBe(seconds * 1000);
      }),
    );
  });
});
