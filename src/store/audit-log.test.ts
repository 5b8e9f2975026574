import { describe, expect, test } from "bun:test";
import { piecesDigestOf } from "../testing/pieces-digest-of.ts";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { appendFile, readdir, readFile, stat, truncate, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { archiveFileName } from "../archive/naming.ts";
import { AuditLog, checkAuditLog } from "./audit-log.ts";
import { Store, type AuditEvent, type StoreLog } from "./store.ts";
import { buildArchive, seededBytes, tempRoots, uploadArchive } from "./test-fixtures.ts";

const HOUR = 3600_000;
const T0 = Date.UTC(2026, 0, 10, 3, 0, 0);
const newRoot = tempRoots("hr-audit-");

const logPath = (root: string) => join(root, ".audit", "audit.log");
const headPath = (root: string) => join(root, ".audit", "audit.head");
async function entries(root: string): Promise<Record<string, unknown>[]> {
  const text = await readFile(logPath(root), "utf8");
  return text
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}
const purge = (i: number): AuditEvent => ({
  event: "purge",
  client: "web01",
  item: `backup-www-item-${i}`,
  trashedAt: new Date(T0).toISOString(),
});
function recorder(): { log: StoreLog; seen: { level: string; event: string }[] } {
  const seen: { level: string; event: string }[] = [];
  return { seen, log: (level, event) => seen.push({ level, event }) };
}

describe("audit log writer", () => {
  test("concurrent appends become consecutive lines, each chained to the one before; files are 0640", async () => {
    const root = await newRoot();
    const audit = await AuditLog.open(root, { now: () => T0 });
    await Promise.all(Array.from({ length: 20 }, (_, i) => audit.append(purge(i))));
    const text = await readFile(logPath(root), "utf8");
    const lines = text.split("\n").slice(0, -1);
    expect(lines.map((l) => JSON.parse(l).item)).toEqual(Array.from({ length: 20 }, (_, i) => `backup-www-item-${i}`));
    lines.forEach((line, i) => {
      const prev =
        i === 0
          ? "0".repeat(64)
          : createHash("sha256")
              .update(lines[i - 1]!)
              .digest("hex");
      expect(JSON.parse(line)).toMatchObject({ seq: i + 1, at: new Date(T0).toISOString(), event: "purge", prev });
    });
    expect((await readFile(headPath(root), "utf8")).trim()).toBe(`20:${createHash("sha256").update(lines[19]!).digest("hex")}`);
    expect((await stat(logPath(root))).mode & 0o777).toBe(0o640);
    expect((await stat(headPath(root))).mode & 0o777).toBe(0o640);
    expect(await checkAuditLog(root)).toMatchObject({ ok: true, lines: 20 });
  });

  test("reopening continues the chain", async () => {
    const root = await newRoot();
    await (await AuditLog.open(root)).append(purge(1));
    const again = await AuditLog.open(root);
    await again.append(purge(2));
    expect((await entries(root)).map((e) => e.seq)).toEqual([1, 2]);
    expect(await checkAuditLog(root)).toMatchObject({ ok: true, lines: 2 });
  });

  test("a torn last line is moved aside and recorded; the chain stays intact", async () => {
    const root = await newRoot();
    const first = await AuditLog.open(root);
    await first.append(purge(1));
    await first.append(purge(2));
    const cut = '{"seq":3,"at":"2026-01-10T03:00:00.000Z","event":"acc';
    await appendFile(logPath(root), cut);
    expect(await checkAuditLog(root)).toMatchObject({ ok: false, line: 3, problem: expect.stringContaining("no newline") });
    const { log, seen } = recorder();
    const reopened = await AuditLog.open(root, { log });
    await reopened.append(purge(3));
    expect(seen).toContainEqual({ level: "warn", event: "audit.recovered" });
    const lines = await entries(root);
    expect(lines.map((e) => [e.seq, e.event])).toEqual([
      [1, "purge"],
      [2, "purge"],
      [3, "recovered"],
      [4, "purge"],
    ]);
    expect(lines[2]).toMatchObject({ torn: "audit.log.3.torn", bytes: cut.length });
    expect(await readFile(join(root, ".audit", "audit.log.3.torn"), "utf8")).toBe(cut);
    expect(await checkAuditLog(root)).toMatchObject({ ok: true, lines: 4, recovered: [3] });
  });

  test("a log cut short while the server was stopped fails the check, and the next start records it in the chain", async () => {
    const root = await newRoot();
    const audit = await AuditLog.open(root);
    for (let i = 0; i < 3; i++) await audit.append(purge(i));
    const text = await readFile(logPath(root), "utf8");
    await writeFile(logPath(root), text.split("\n").slice(0, 2).join("\n") + "\n");
    expect(await checkAuditLog(root)).toMatchObject({ ok: false, problem: expect.stringContaining("names line 3") });
    const { log, seen } = recorder();
    await AuditLog.open(root, { log });
    expect(seen).toContainEqual({ level: "error", event: "audit.recovered" });
    const lines = await entries(root);
    expect(lines.at(-1)).toMatchObject({ seq: 3, event: "recovered", head: expect.stringMatching(/^3:[0-9a-f]{64}$/) });
    expect(await checkAuditLog(root)).toMatchObject({ ok: true, lines: 3, recovered: [3] });
  });

  test("a missing head file fails the check while the log has lines", async () => {
    const root = await newRoot();
    await (await AuditLog.open(root)).append(purge(1));
    await unlink(headPath(root));
    expect(await checkAuditLog(root)).toMatchObject({ ok: false, problem: expect.stringContaining("missing") });
  });

  test("a log whose last line is not ours cannot be continued: appends fail, the store's backups do not", async () => {
    const root = await newRoot();
    await (await AuditLog.open(root)).append(purge(1));
    await appendFile(logPath(root), "garbage\n");
    const { log, seen } = recorder();
    const audit = await AuditLog.open(root, { log });
    expect(seen).toContainEqual({ level: "error", event: "audit.unavailable" });
    await expect(audit.append(purge(2))).rejects.toThrow("not an audit record");
    const store = await Store.open(root, { log, audit: (e) => audit.append(e) });
    const file = archiveFileName("www", new Date(T0));
    await uploadArchive(store, "web01", file, buildArchive([seededBytes("a", 5000)]));
    expect(existsSync(join(root, "web01", file))).toBe(true);
    expect(seen).toContainEqual({ level: "error", event: "audit.write-failed" });
    await store.close();
  });
});

describe("the store's audit events", () => {
  test("two archives of a name, then the purge: accept, accept, supersede, trash, purge, in order, chain intact", async () => {
    const root = await newRoot();
    let now = T0;
    const audit = await AuditLog.open(root, { now: () => now });
    let inPlaceAtAccept = false;
    const store = await Store.open(root, {
      now: () => now,
      retention: { keep: 1, trashForMs: 48 * HOUR },
      audit: async (event) => {
        if (event.event === "accept") inPlaceAtAccept = existsSync(join(root, event.client, event.file));
        await audit.append(event);
      },
    });
    const file1 = archiveFileName("www", new Date(T0));
    const first = buildArchive([seededBytes("v1", 30_000), seededBytes("v1b", 9000)]);
    await uploadArchive(store, "web01", file1, first);
    expect(inPlaceAtAccept).toBe(true);
    now += HOUR;
    const file2 = archiveFileName("www", new Date(now));
    const second = buildArchive([seededBytes("v2", 30_000), seededBytes("v1b", 9000)]);
    await uploadArchive(store, "web01", file2, second);
    now += 48 * HOUR;
    expect((await store.purgeTrash()).map((p) => p.item)).toEqual([file1]);
    await store.close();

    const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
    const lines = await entries(root);
    expect(lines.map((e) => e.event)).toEqual(["accept", "accept", "supersede", "trash", "purge"]);
    expect(lines[0]).toMatchObject({
      client: "web01",
      name: "www",
      file: file1,
      archiveId: first.archiveId,
      piecesSha256: piecesDigestOf(first.bytes),
      size: first.bytes.length,
    });
    expect(lines[1]).toMatchObject({ file: file2, archiveId: second.archiveId });
    expect(lines[2]).toMatchObject({ client: "web01", name: "www", file: file1, replacedBy: file2 });
    expect(lines[3]).toMatchObject({ client: "web01", name: "www", file: file1, item: file1, replacedBy: file2 });
    expect(lines[4]).toMatchObject({ client: "web01", item: file1, trashedAt: new Date(T0 + HOUR).toISOString() });
    expect(await checkAuditLog(root)).toMatchObject({ ok: true, lines: 5 });

    // .audit is not a client folder: reopening the store ignores it.
    const { log, seen } = recorder();
    const reopened = await Store.open(root, { log });
    expect(seen.filter((s) => s.event === "store.ignored")).toEqual([]);
    expect(await readdir(root)).toContain(".audit");
    await reopened.close();
  });

  test("cutting the last line away is seen through the head; editing a middle byte names that line or the next", async () => {
    const root = await newRoot();
    const audit = await AuditLog.open(root);
    for (let i = 0; i < 5; i++) await audit.append(purge(i));
    const original = await readFile(logPath(root));
    const lines = original.toString().split("\n");
    await truncate(logPath(root), original.length - lines[4]!.length - 1);
    expect(await checkAuditLog(root)).toMatchObject({ ok: false, line: 5, problem: expect.stringContaining("cut off") });
    const edited = Buffer.from(original);
    const at = lines[0]!.length + 1 + lines[1]!.indexOf("item-1");
    edited[at] = "X".charCodeAt(0);
    await writeFile(logPath(root), edited);
    expect(await checkAuditLog(root)).toMatchObject({ ok: false, line: 3, problem: expect.stringContaining("line 2 was edited") });
  });
});
