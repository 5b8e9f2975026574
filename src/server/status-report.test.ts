// The server's status: an archive's age is the time the server stored it, never the time its client-chosen name carries.
import { afterAll, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseConfig } from "../config/parse-config.ts";
import type { ServerConfig } from "../io/config-file.ts";
import { serverStatus, serverStatusLines } from "./status-report.ts";

const K = "ed25519:gTl3Dqh9F19Wo1Rmw0x+zMuNipG07jeiXfYPW4/Js5Q=";
const root = fs.mkdtempSync(path.join(os.tmpdir(), "hashrelay-server-status-"));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const NOW = new Date("2026-11-26T12:00:00Z");
const DAY = 86_400_000;

function config(storage: string, clientExtra = ""): ServerConfig {
  const text = `version: 1\nserver:\n  key: ./server.key\n  storage: ${storage}\n  clients:\n    - name: web01\n      key: ${K}\n${clientExtra}`;
  const parsed = parseConfig(text, path.join(root, "hashrelay.yaml"), {});
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return parsed.config as ServerConfig;
}

/** An archive file of web01 under `name`, stored (mtime) at `storedAt`. */
function store(storage: string, file: string, storedAt: number): void {
  const dir = path.join(storage, "web01");
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, file), "x".repeat(100));
  fs.utimesSync(path.join(dir, file), new Date(storedAt), new Date(storedAt));
}

test("an archive named as if made in 2099 is as old as the server's copy of it", async () => {
  const storage = path.join(root, "future");
  store(storage, "backup-docs-00-00-03-2099-01-01.tar.gz", NOW.getTime() - 3 * DAY);
  const [docs] = (await serverStatus(config(storage), NOW)).clients[0]!.archives;
  expect(docs).toMatchObject({ name: "docs", storedAt: new Date(NOW.getTime() - 3 * DAY).toISOString(), ageSeconds: 3 * 86_400 });
});

test("the last one stored is the name's current archive, whatever the names say", async () => {
  const storage = path.join(root, "two");
  store(storage, "backup-docs-00-00-03-2099-01-01.tar.gz", NOW.getTime() - 3 * DAY);
  store(storage, "backup-docs-00-00-03-2026-11-25.tar.gz", NOW.getTime() - DAY);
  const status = await serverStatus(config(storage), NOW);
  expect(status.clients[0]!.archives).toEqual([
    {
      name: "docs",
      file: "backup-docs-00-00-03-2026-11-25.tar.gz",
      size: 100,
      storedAt: new Date(NOW.getTime() - DAY).toISOString(),
      ageSeconds: 86_400,
      kept: 2,
    },
  ]);
  const lines = serverStatusLines(status, { file: "hashrelay.yaml", hash: "0".repeat(64) }, NOW);
  expect(lines).toContain("    docs           backup-docs-00-00-03-2026-11-25.tar.gz  100 B, stored 24 h ago (2 kept)");
});

test("the storage's file system: cloned runs, or whole copies and why", async () => {
  const storage = path.join(root, "sharing");
  store(storage, "backup-docs-00-00-03-2026-11-25.tar.gz", NOW.getTime() - DAY);
  const lines = async () =>
    serverStatusLines(await serverStatus(config(storage), NOW), { file: "hashrelay.yaml", hash: "0".repeat(64) }, NOW);
  expect((await lines()).some((l) => l.startsWith("Archives:"))).toBe(false);
  fs.mkdirSync(path.join(storage, ".hashrelay"), { recursive: true });
  const state = (cloning: boolean) =>
    fs.writeFileSync(
      path.join(storage, ".hashrelay", "sharing-state.json"),
      JSON.stringify({ cloning, blockSize: 4096, ...(cloning ? {} : { reason: "EOPNOTSUPP" }), checkedAt: NOW.toISOString() }),
    );
  state(false);
  expect((await lines()).find((l) => l.startsWith("Archives:"))).toContain(
    "copied whole at each backup: this file system cannot clone (EOPNOTSUPP)",
  );
  state(true);
  expect((await lines()).find((l) => l.startsWith("Archives:"))).toContain("unchanged runs are cloned");
});

test("staging left by unfinished uploads and a client's use of its quota are shown", async () => {
  const storage = path.join(root, "space");
  store(storage, "backup-docs-00-00-03-2026-11-25.tar.gz", NOW.getTime() - DAY);
  const staging = path.join(storage, ".hashrelay", "staging", "web01");
  fs.mkdirSync(staging, { recursive: true });
  fs.writeFileSync(path.join(staging, "0123456789abcdef.part"), "y".repeat(3000));
  fs.utimesSync(path.join(staging, "0123456789abcdef.part"), new Date(NOW.getTime() - 3_600_000), new Date(NOW.getTime() - 3_600_000));
  fs.writeFileSync(path.join(staging, "not-ours.txt"), "z");
  const quoted = config(storage, "      quota: 10KiB\n");
  const status = await serverStatus(quoted, NOW);
  expect(status.minFreeBytes).toBe(64 * 1024 * 1024);
  expect(status.staging).toEqual([
    { client: "web01", bytes: 3000, files: 1, oldestWriteAt: new Date(NOW.getTime() - 3_600_000).toISOString() },
  ]);
  expect(status.clients[0]!.quota).toEqual({ quotaBytes: 10 * 1024, usedBytes: 3100, archives: 100, trash: 0, staging: 3000 });
  const lines = serverStatusLines(status, { file: "hashrelay.yaml", hash: "0".repeat(64) }, NOW);
  expect(lines[0]).toContain("free (keeps 64 MiB)");
  expect(lines).toContain("    quota 10 KiB: 3.0 KiB used (30%): archives 100 B, trash 0 B, staging 2.9 KiB");
  expect(lines.find((l) => l.startsWith("Staging:"))).toStartWith("Staging: 1 file(s), 2.9 KiB from unfinished uploads");
  expect(lines.find((l) => l.startsWith("  web01 ") && l.includes("oldest last written"))).toContain("(60 min ago)");
});
