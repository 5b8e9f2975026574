// server.retention.suspect: read as written, defaults filled in, out-of-range values refused with their line.
import { describe, expect, test } from "bun:test";
import { diffConfig } from "./config-diff.ts";
import { formatIssue, parseConfig } from "./parse-config.ts";

const FILE = "/etc/hashrelay/hashrelay.yaml";
const KEY = "ed25519:iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w=";

function serverText(suspect: string): string {
  return `version: 1\nserver:\n  key: ./server.key\n  retention:\n    keep: 1\n${suspect}  clients:\n    - name: web01\n      key: "${KEY}"\n`;
}

describe("server.retention.suspect", () => {
  test("values are read as written; missing ones take the defaults", () => {
    const result = parseConfig(serverText("    suspect:\n      maxShared: 0.05\n      releaseAfter: 3\n"), FILE);
    expect(result.ok && result.config.server?.retention.suspect).toEqual({
      maxShared: 0.05,
      ratioJump: 0.15,
      minRatio: 0.2,
      releaseAfter: 3,
    });
  });

  test("a share above 1, a negative jump and a fractional releaseAfter are refused at their line", () => {
    const result = parseConfig(serverText("    suspect:\n      maxShared: 1.5\n      ratioJump: -0.1\n      releaseAfter: 1.5\n"), FILE);
    expect(result.ok).toBe(false);
    const lines = result.ok ? [] : result.issues.map(formatIssue);
    expect(lines.some((l) => l.startsWith(`${FILE}:7:18: server.retention.suspect.maxShared:`))).toBe(true);
    expect(lines.some((l) => l.startsWith(`${FILE}:8:18: server.retention.suspect.ratioJump:`))).toBe(true);
    expect(lines.some((l) => l.startsWith(`${FILE}:9:21: server.retention.suspect.releaseAfter:`))).toBe(true);
  });

  test("a reload that changes the guard says so", () => {
    const before = parseConfig(serverText(""), FILE);
    const after = parseConfig(serverText("    suspect:\n      releaseAfter: 2\n"), FILE);
    if (!before.ok || !after.ok) throw new Error("configs should be valid");
    const diff = diffConfig(before.config, after.config);
    expect(diff.server?.retention).toBe(true);
    expect(diff.changes).toContain(
      "server.retention: keep 1, trashFor 2d → keep 1, trashFor 2d, suspect maxShared 0.1 ratioJump 0.15 minRatio 0.2 releaseAfter 2",
    );
  });
});
