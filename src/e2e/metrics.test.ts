// End to end: server.metrics scraped over HTTP after real backups; every value checked against what the client reported and what is on disk.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import {
  freePort,
  keygen,
  makeWorld,
  runBinary,
  runClientOnce,
  startServer,
  tempDir,
  writeClientConfig,
  type ServerProcess,
  type World,
} from "../testing/e2e-harness.ts";

let world: World;
let server: ServerProcess;
let metricsPort: number;
let source: string;
let current = "";
let superseded = "";

beforeAll(async () => {
  source = path.join(tempDir("metrics"), "docs");
  fs.mkdirSync(source);
  // Random bytes: no two chunks alike, so deduplication only comes from the second backup.
  fs.writeFileSync(path.join(source, "big.bin"), randomBytes(1536 * 1024));
  fs.writeFileSync(path.join(source, "note.txt"), "version 1\n");
  world = await makeWorld([source]);
  metricsPort = await freePort();
  fs.appendFileSync(world.serverConfig, `  metrics: 127.0.0.1:${metricsPort}\n`);
  server = await startServer(world);
  await server.waitForLog(`metrics on http://127.0.0.1:${metricsPort}/metrics`);
}, 60_000);
afterAll(async () => {
  await server?.stop();
});

/** Scrapes /metrics and returns the samples as "name{labels}" → value. */
async function scrape(): Promise<Map<string, number>> {
  const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
  const samples = new Map<string, number>();
  for (const line of (await res.text()).split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (!m) throw new Error(`not Prometheus text format: ${JSON.stringify(line)}`);
    samples.set(m[1]!, Number(m[2]));
  }
  return samples;
}

test("after two backups and one refused stranger, the metrics say what happened", async () => {
  const before = Date.now();
  const first = runClientOnce(world);
  expect(first.status).toBe(0);
  const r1 = first.report.results[0]!;
  expect(r1.status).toBe("sent");
  const firstArchive = path.join(world.storage, "web01", r1.archive!);

  fs.writeFileSync(path.join(source, "note.txt"), "version 2, a little longer\n");
  const second = runClientOnce(world);
  const r2 = second.report.results[0]!;
  expect(r2.status).toBe("sent");
  expect(r2.chunksSent).toBeLessThan(r2.chunksTotal);
  const after = Date.now();

  const stranger = keygen(path.join(world.dir, "stranger.key"));
  expect(stranger).toStartWith("ed25519:");
  writeClientConfig(world, [source], { key: "./stranger.key" });
  expect(runClientOnce(world).status).toBe(4);
  await server.waitForLog("unknown client key");

  const m = await scrape();
  current = r2.archive!;
  superseded = r1.archive!;
  const archive = path.join(world.storage, "web01", r2.archive!);
  const stored = fs.statSync(archive);
  expect(m.get('hashrelay_archive_bytes{client="web01",name="docs"}')).toBe(stored.size);
  const last = m.get('hashrelay_last_success_timestamp_seconds{client="web01",name="docs"}')! * 1000;
  expect(last).toBeGreaterThanOrEqual(before - 1000);
  expect(last).toBeLessThanOrEqual(after + 1000);

  expect(m.get('hashrelay_received_bytes_total{client="web01"}')).toBe(r1.bytesSent + r2.bytesSent);
  expect(m.get('hashrelay_chunks_received_total{client="web01"}')).toBe(r1.chunksSent + r2.chunksSent);
  expect(m.get('hashrelay_chunks_deduplicated_total{client="web01"}')).toBe(
    r1.chunksTotal - r1.chunksSent + (r2.chunksTotal - r2.chunksSent),
  );
  expect(m.get('hashrelay_archives_stored_total{client="web01"}')).toBe(2);
  // One session per tick: the probe's session carries the backup and the closing ping.
  expect(m.get('hashrelay_sessions_total{client="web01"}')).toBe(2);
  expect(m.get("hashrelay_sessions_active")).toBe(0);
  expect(m.get("hashrelay_auth_failures_total")).toBe(1);
  expect(m.get('hashrelay_handshake_failures_total{code="UNAUTHORIZED"}')).toBe(1);

  // The first archive was superseded: it waits in the trash.
  const trashed = fs.readdirSync(path.join(world.storage, ".trash", "web01")).filter((f) => f.endsWith(".tar.gz"));
  expect(trashed).toEqual([path.basename(firstArchive)]);
  const trashBytes = fs.statSync(path.join(world.storage, ".trash", "web01", trashed[0]!)).size;
  expect(m.get("hashrelay_trash_bytes")).toBe(trashBytes);
  expect(m.get("hashrelay_trash_items")).toBe(1);
  expect(m.get("hashrelay_storage_used_bytes")).toBe(stored.size + trashBytes);

  const fsStat = fs.statfsSync(world.storage);
  const free = fsStat.bavail * fsStat.bsize;
  expect(Math.abs(m.get("hashrelay_storage_free_bytes")! - free)).toBeLessThan(256 * 1024 * 1024);
}, 60_000);

test("anything but GET /metrics is refused", async () => {
  expect((await fetch(`http://127.0.0.1:${metricsPort}/`)).status).toBe(404);
  expect((await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { method: "POST", body: "x" })).status).toBe(405);
});

test("hashrelay status on the server: clients seen, latest archive per name and its age, what is in the trash and when it goes", () => {
  const run = runBinary(["status", "--json", "--config", world.serverConfig]);
  expect(run.status).toBe(0);
  const s = JSON.parse(run.stdout).server;
  expect(s.daemon).toMatchObject({ running: true, pid: server.child.pid, configCurrent: true });
  const web01 = s.clients.find((c: { name: string }) => c.name === "web01");
  expect(Date.now() - Date.parse(web01.lastSeen)).toBeLessThan(60_000);
  expect(web01.from).toMatch(/^127\.0\.0\.1:\d+$/);
  // the stranger was refused before a session: two sessions, both web01's backups
  expect(web01.sessions).toBe(2);
  const size = fs.statSync(path.join(world.storage, "web01", current)).size;
  expect(web01.archives).toEqual([
    { name: "docs", file: current, size, storedAt: expect.any(String), ageSeconds: expect.any(Number), kept: 1 },
  ]);
  expect(web01.archives[0].ageSeconds).toBeLessThan(120);
  const sidecar = JSON.parse(fs.readFileSync(path.join(world.storage, ".trash", "web01", `${superseded}.trashed`), "utf8"));
  expect(s.trash).toEqual([
    {
      client: "web01",
      item: superseded,
      size: expect.any(Number),
      trashedAt: sidecar.trashedAt,
      purgeAt: new Date(Date.parse(sidecar.trashedAt) + 48 * 3600_000).toISOString(),
    },
  ]);
  expect(s.usedBytes).toBe(size + s.trash[0].size);

  const text = runBinary(["status", "--config", world.serverConfig]).stdout;
  expect(text).toMatch(/^Daemon: running, pid \d+, since /m);
  // "now" and "in 2 d" (48 h to the second) when status runs within half a second of the last session: a fast start makes that common.
  expect(text).toMatch(/^  web01 +last seen \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \((?:\d+ s ago|now)\) from 127\.0\.0\.1:\d+ \(2 sessions\)$/m);
  expect(text).toContain(`    docs           ${current}  `);
  expect(text).toMatch(/^Trash: 1 item\(s\), .* \(purged 2d after they were superseded\)$/m);
  expect(text).toMatch(
    new RegExp(
      `^  web01/${superseded.replace(/\./g, "\\.")}  .*, purged \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d \\(in (47 h|48 h|2 d)\\)$`,
      "m",
    ),
  );
}, 60_000);
