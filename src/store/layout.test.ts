import { describe, expect, test } from "bun:test";
import { HashRelayError } from "../errors.ts";
import { StoreLayout, assertUnderRoot, checkArchiveFile, checkClient, checkName } from "./layout.ts";

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (err) {
    return err instanceof HashRelayError ? err.code : "not a HashRelayError";
  }
  return undefined;
}

describe("paths stay under the root", () => {
  const layout = new StoreLayout("/srv/backup/");

  test("normal paths", () => {
    expect(layout.archivePath("web01", "backup-etc-00-00-03-2026-01-10.tar.gz")).toBe(
      "/srv/backup/web01/backup-etc-00-00-03-2026-01-10.tar.gz",
    );
    expect(layout.trashPath("web01", "x")).toBe("/srv/backup/.trash/web01/x");
    expect(layout.indexPath()).toBe("/srv/backup/.hashrelay/index.sqlite");
    expect(layout.stagingPath("web01", "0123456789abcdef.part")).toBe("/srv/backup/.hashrelay/staging/web01/0123456789abcdef.part");
    expect(layout.tmpPath("abc")).toBe("/srv/backup/.hashrelay/tmp/abc");
  });

  test("anything resolving outside the root, or to the root itself, is STORAGE", () => {
    expect(codeOf(() => layout.archivePath("..", "etc"))).toBe("STORAGE");
    expect(codeOf(() => layout.clientDir("../../etc"))).toBe("STORAGE");
    expect(codeOf(() => layout.clientDir("."))).toBe("STORAGE");
    expect(codeOf(() => layout.archivePath("web01", "../../../etc/passwd"))).toBe("STORAGE");
    expect(codeOf(() => assertUnderRoot("/srv/backup", "/srv/backup-evil/x"))).toBe("STORAGE");
    expect(codeOf(() => assertUnderRoot("/srv/backup", "/srv/backup/a/../../x"))).toBe("STORAGE");
    expect(codeOf(() => assertUnderRoot("/srv/backup", "/srv/backup/a"))).toBeUndefined();
  });
});

describe("names from outside", () => {
  test("client ids and names must be slugs", () => {
    for (const bad of ["..", ".", ".trash", ".hashrelay", "a/b", "A", "", "a_b", "-a", "a-", "x".repeat(65), "é"]) {
      expect(codeOf(() => checkClient(bad))).toBe("BAD_FRAME");
      expect(codeOf(() => checkName(bad))).toBe("BAD_FRAME");
    }
    expect(codeOf(() => checkClient(42 as unknown as string))).toBe("BAD_FRAME");
    for (const good of ["web01", "a", "my-docs", "x".repeat(64)]) {
      expect(codeOf(() => checkClient(good))).toBeUndefined();
      expect(codeOf(() => checkName(good))).toBeUndefined();
    }
  });

  test("the file must be an archive name of exactly that name", () => {
    expect(checkArchiveFile("etc", "backup-etc-05-04-03-2026-01-10.tar.gz").toISOString()).toBe("2026-01-10T03:04:05.000Z");
    expect(checkArchiveFile("my-docs", "backup-my-docs-05-04-03-2026-01-10.tar.gz").getUTCFullYear()).toBe(2026);
    for (const file of [
      "backup-www-05-04-03-2026-01-10.tar.gz",
      "backup-etc-05-04-03-2026-01-10.tar.gz.part",
      "../backup-etc-05-04-03-2026-01-10.tar.gz",
      "backup-etc-05-04-03-2026-13-10.tar.gz",
      "backup-etc.tar.gz",
    ]) {
      expect(codeOf(() => checkArchiveFile("etc", file))).toBe("BAD_FRAME");
    }
    expect(codeOf(() => checkArchiveFile("../etc", "backup-../etc-05-04-03-2026-01-10.tar.gz"))).toBe("BAD_FRAME");
  });
});
