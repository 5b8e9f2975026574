import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { archiveFileName, isValidSourceName, parseArchiveFileName } from "./naming.ts";

describe("archive file names", () => {
  test("second-minute-hour-year-month-day in UTC, zero padded", () => {
    const at = new Date("2024-03-05T07:08:09.999Z");
    expect(archiveFileName("www", at)).toBe("backup-www-09-08-07-2024-03-05.tar.gz");
    expect(archiveFileName("etc", new Date("2025-12-31T23:59:59Z"))).toBe("backup-etc-59-59-23-2025-12-31.tar.gz");
  });

  test("round trip, names with dashes included, parsed from the right", () => {
    const parsed = parseArchiveFileName("backup-my-site-2024-01-02-03-04-05-2024-06-07.tar.gz");
    expect(parsed?.name).toBe("my-site-2024-01-02");
    expect(parsed?.at.toISOString()).toBe("2024-06-07T05:04:03.000Z");
    const name = fc.stringMatching(/^[a-z0-9]{1,8}(-[a-z0-9]{1,8}){0,4}$/);
    const when = fc.date({ min: new Date("1970-01-01T00:00:00Z"), max: new Date("9999-12-31T23:59:59Z"), noInvalidDate: true });
    fc.assert(
      fc.property(name, when, (n, at) => {
        const back = parseArchiveFileName(archiveFileName(n, at));
        expect(back?.name).toBe(n);
        expect(back?.at.getTime()).toBe(Math.floor(at.getTime() / 1000) * 1000);
      }),
    );
  });

  test("rejects anything not exactly that shape", () => {
    const bad = [
      "backup-www-09-08-07-2024-03-05.tar",
      "backup-www-09-08-07-2024-03-05.tar.gz.tmp",
      "xbackup-www-09-08-07-2024-03-05.tar.gz",
      "backup--09-08-07-2024-03-05.tar.gz",
      "backup-a/b-09-08-07-2024-03-05.tar.gz",
      "backup-..-09-08-07-2024-03-05.tar.gz",
      "backup-a..b-09-08-07-2024-03-05.tar.gz",
      "backup-../x-09-08-07-2024-03-05.tar.gz",
      "backup-www-9-08-07-2024-03-05.tar.gz",
      "backup-www-60-08-07-2024-03-05.tar.gz",
      "backup-www-09-60-07-2024-03-05.tar.gz",
      "backup-www-09-08-24-2024-03-05.tar.gz",
      "backup-www-09-08-07-2024-13-05.tar.gz",
      "backup-www-09-08-07-2023-02-29.tar.gz",
      "backup-www-09-08-07-2024-03-00.tar.gz",
      "backup-www -09-08-07-2024-03-05.tar.gz",
      "backup-www-09-08-07-2024-03-05.tar.gz\n",
    ];
    for (const file of bad) expect(parseArchiveFileName(file)).toBeNull();
    expect(parseArchiveFileName("backup-www-09-08-07-2024-02-29.tar.gz")?.at.toISOString()).toBe("2024-02-29T07:08:09.000Z");
  });

  test("refuses names that could escape a folder or break parsing", () => {
    for (const name of ["", "a/b", "..", "a..b", "-a", "a-", "a b", "é", "x".repeat(201)]) {
      expect(isValidSourceName(name)).toBe(false);
      expect(() => archiveFileName(name, new Date())).toThrow(expect.objectContaining({ code: "CONFIG" }));
    }
    expect(isValidSourceName("web-01.site_a")).toBe(true);
    expect(() => archiveFileName("www", new Date(Number.NaN))).toThrow(expect.objectContaining({ code: "CONFIG" }));
  });
});
