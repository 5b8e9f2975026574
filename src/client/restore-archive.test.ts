// Which archive restore picks, and which tar entries it refuses.
import { describe, expect, test } from "bun:test";
import type { ListedArchive } from "../protocol/messages.ts";
import { chooseArchive } from "./restore-archive.ts";
import { isUnsafeEntry } from "./tar-extraction.ts";

const entry = (file: string, storedAt: string, trashed = false): ListedArchive => ({
  name: file.split("-")[1]!,
  file,
  size: 1,
  archiveId: "a".repeat(64),
  fileSha256: "b".repeat(64),
  storedAt,
  ...(trashed ? { trashed: true as const, purgeAt: "2026-01-03T00:00:00.000Z" } : {}),
});

describe("chooseArchive", () => {
  const old = entry("backup-www-00-00-00-2026-01-01.tar.gz", "2026-01-01T00:00:00.000Z", true);
  const current = entry("backup-www-00-00-00-2026-01-02.tar.gz", "2026-01-02T00:00:00.000Z");
  const other = entry("backup-db-00-00-00-2026-01-03.tar.gz", "2026-01-03T00:00:00.000Z");
  const all = [current, old, other];

  test("default: the newest stored archive of the name, never another name's", () => {
    expect(chooseArchive(all, "www", {})).toBe(current);
    expect(chooseArchive([old], "www", {})).toBe(old);
    expect(() => chooseArchive(all, "mail", {})).toThrow(/no archive of mail/);
  });

  test("--at picks the newest stored at or before the time, trash included; --file exactly", () => {
    expect(chooseArchive(all, "www", { at: Date.parse("2026-01-01T12:00:00Z") })).toBe(old);
    expect(chooseArchive(all, "www", { at: Date.parse("2026-01-02T00:00:00Z") })).toBe(current);
    expect(() => chooseArchive(all, "www", { at: Date.parse("2025-12-31T00:00:00Z") })).toThrow(/at or before/);
    expect(chooseArchive(all, "www", { file: old.file })).toBe(old);
    expect(() => chooseArchive(all, "www", { file: other.file })).toThrow(/no archive backup-db/);
  });
});

test("isUnsafeEntry: absolute paths and .. components, not names that merely contain dots", () => {
  for (const bad of ["/etc/passwd", "../x", "a/../../x", "a/..", ".."]) expect(isUnsafeEntry(bad)).toBe(true);
  for (const ok of ["site/", "site/a..b", "site/..hidden", "site/.../x", "./site/x"]) expect(isUnsafeEntry(ok)).toBe(false);
});
