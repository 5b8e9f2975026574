// Cost: one Ceph cluster (~14 s to start), three backups of a 5 MiB source, five `server verify` runs, eight server starts, a few scrub steps, six `server audit --check` runs, one radosgw restart: about 45 s here.
//
// `server verify`, the scheduled scrub, the damage guard on the bucket's trash, status and /metrics, and the
// audit log's copy in the bucket on an S3 storage (issue 19 item 4), against a real Ceph RGW with the compiled binary; skipped with a banner
// where Ceph cannot start. Damage is made by hand in the bucket (a PUT of a copy with one byte changed),
// so the cache's copy of the same archive stays good.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { S3Client } from "../io/s3-client.ts";
import { AuditLog } from "../store/audit-log.ts";
import { BucketArchives } from "../store/bucket-archives.ts";
import { BucketAudit } from "../store/bucket-audit.ts";
import { checkBucketAudit } from "../store/bucket-audit-check.ts";
import { refreshBucketUsage } from "../store/bucket-usage.ts";
import { StoreLayout } from "../store/layout.ts";
import { byTime, untilAged } from "../testing/bucket-world.ts";
import { startCephRgw } from "../testing/ceph-rgw.ts";
import {
  ensureBinary,
  freePort,
  makeWorld,
  runBinary,
  runClientOnce,
  startServer,
  writeNoiseFiles,
  writeServerConfig,
  type ServerProcess,
  type World,
} from "../testing/e2e-harness.ts";

const MiB = 1024 * 1024;
const BUCKET = "hashrelay-verify";
const PREFIX = "site-v";
const rgw = await startCephRgw();
afterAll(() => rgw?.stop());

/** A client of the test bucket, as an admin's own tool would be. */
function adminClient(): S3Client {
  const { endpoint, region, credentials } = rgw!;
  return new S3Client({ endpoint, region, bucket: BUCKET, pathStyle: true, credentials, timeoutMs: 30_000 });
}

/** The world's server config on the bucket (credentials from a 0600 file), with `extra` lines under server:. */
function useBucket(world: World, options: { trashFor?: string; trashVersions?: number; extra?: string } = {}): void {
  const credentials = path.join(world.dir, "s3.credentials");
  const { accessKeyId, secretAccessKey } = rgw!.credentials;
  fs.writeFileSync(credentials, `[default]\naws_access_key_id = ${accessKeyId}\naws_secret_access_key = ${secretAccessKey}\n`, {
    mode: 0o600,
  });
  writeServerConfig(world, [{ name: "web01", key: world.clientPub }], { trashFor: options.trashFor ?? "48h" });
  const cap = options.trashVersions ? `    trashVersions: ${options.trashVersions}\n` : "";
  const s3 = `  storage: s3://${BUCKET}/${PREFIX}\n  s3:\n    endpoint: ${rgw!.endpoint}\n    region: ${rgw!.region}\n    credentials: ./s3.credentials\n${cap}  cache: ./cache\n${options.extra ?? ""}`;
  fs.writeFileSync(world.serverConfig, fs.readFileSync(world.serverConfig, "utf8").replace("  storage: ./nas\n", s3));
}

/** Object `key` replaced by a copy with the byte at a third of it flipped (a member's deflate data). */
async function damageObject(key: string): Promise<void> {
  const s3 = adminClient();
  const bytes = await s3.getBytes(key);
  bytes[Math.floor(bytes.length / 3)]! ^= 0x10;
  await s3.putObject(key, bytes);
}

interface VerifyLine {
  client: string;
  file: string;
  trash: boolean;
  ok: boolean;
  bucket?: string;
  damaged: { reason: string }[];
  problem?: string;
}

/** What `server audit --check --json` prints (heads as SEQ:HASH). */
interface AuditReport {
  ok: boolean;
  head?: string;
  bucket?: {
    server: string;
    prefix: string;
    ok: boolean;
    lines: number;
    head?: string;
    recovered?: number[];
    line?: number;
    problem?: string;
    key?: string;
  }[];
}

/** Scrapes /metrics on `port`: each sample's "name{labels}" and value. */
async function scrape(port: number): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    const match = /^(\S+) (\S+)$/.exec(line);
    if (match && !line.startsWith("#")) samples.set(match[1]!, Number(match[2]));
  }
  return samples;
}

/** `hashrelay server verify --json`: its exit status and lines. */
function serverVerify(world: World): { status: number | null; lines: VerifyLine[] } {
  const run = runBinary(["server", "verify", "--json", "--config", world.serverConfig]);
  expect(run.stderr).toBe("");
  return { status: run.status, lines: (JSON.parse(run.stdout) as { archives: VerifyLine[] }).archives };
}

/** `server verify`'s lines in the time order of their files (it lists the bucket in byte order, which is not time order: byTime). */
function byTimeOf<T extends { file: string }>(lines: readonly T[]): T[] {
  const order = byTime(lines.map((l) => l.file));
  return [...lines].sort((x, y) => order.indexOf(x.file) - order.indexOf(y.file));
}

describe.skipIf(!rgw)("server verify, the scrub and the damage guard on a real Ceph RGW", () => {
  let world: World;
  let server: ServerProcess | null = null;
  const site = () => path.join(world.dir, "site");
  const keyOf = (file: string) => `${PREFIX}/web01/${file}`;
  const trashed = async () => {
    const keys: string[] = [];
    for await (const o of adminClient().listAllObjects(`${PREFIX}/.trash/web01/`)) if (!o.key.endsWith(".json")) keys.push(o.key);
    return keys.map((k) => path.basename(k));
  };
  /** One client tick that must succeed; the archive it stored. */
  const backup = () => {
    const run = runClientOnce(world);
    expect([run.status, run.report.results[0]!.error]).toEqual([0, undefined]);
    return run.report.results[0]!.archive!;
  };
  const restart = async (options: Parameters<typeof useBucket>[1] = {}) => {
    await server?.stop();
    useBucket(world, options);
    server = await startServer(world);
    return server;
  };
  const files: string[] = [];

  beforeAll(async () => {
    ensureBinary();
    await adminClient().createBucket();
    world = await makeWorld(["./site"]);
    writeNoiseFiles(site(), 1, 4, MiB, "f");
  });
  afterAll(() => server?.stop("SIGKILL"));

  test("server verify finds an object damaged in the bucket though the cached copy is good; the next backup replaces it", async () => {
    await restart();
    files.push(backup());
    await Bun.sleep(1100); // archive names carry the second
    writeNoiseFiles(site(), 2, 1, MiB, "f-1");
    files.push(backup());
    const [, second] = files;
    expect(await trashed()).toEqual([files[0]!]);
    await server!.stop();
    server = null;

    await damageObject(keyOf(second!));
    const found = serverVerify(world);
    expect(found.status).toBe(1);
    const url = `s3://${BUCKET}/${keyOf(second!)}`;
    const lines = found.lines.filter((l) => l.file === second);
    expect(lines.map((l) => [l.bucket ?? "cache", l.ok])).toEqual([
      ["cache", true],
      [url, false],
    ]);
    expect(lines[1]!.damaged[0]!.reason).toStartWith("in the bucket: ");
    const trashUrl = (file: string) => `s3://${BUCKET}/${PREFIX}/.trash/web01/${file}`;
    expect(found.lines.filter((l) => l.trash).map((l) => [l.bucket, l.ok])).toEqual([[trashUrl(files[0]!), true]]);
    const book = fs.readFileSync(path.join(world.dir, "cache", ".hashrelay", "damaged.json"), "utf8");
    expect(book).toContain(second!);

    // as for a damaged local archive: the next tick stores the source again, composed without the damaged bytes
    await Bun.sleep(1100);
    await restart();
    files.push(backup());
    expect(files[2]).not.toBe(second);
    await server!.stop();
    server = null;
    const again = serverVerify(world);
    expect(again.status).toBe(1); // the damaged object, now in the bucket's trash, is scanned there
    expect(again.lines.filter((l) => l.file === files[2]).map((l) => [l.bucket ?? "cache", l.ok])).toEqual([
      ["cache", true],
      [`s3://${BUCKET}/${keyOf(files[2]!)}`, true],
    ]);
    expect(byTimeOf(again.lines.filter((l) => l.trash)).map((l) => [l.bucket, l.ok])).toEqual([
      [trashUrl(files[0]!), true],
      [trashUrl(files[1]!), false],
    ]);
    expect(byTime(await trashed())).toEqual(files.slice(0, 2));
  }, 60_000);

  // an older archive of the name that only the bucket holds (as with keep > 1 after a cache rebuild): a copy
  // of the live object under an earlier name, with the live one's signed record (which attests another file)
  const older = "backup-site-00-00-00-2026-01-01.tar.gz";
  const signedKey = (file: string) => `${PREFIX}/.hashrelay/signed/web01/${file}.json`;

  test("server verify checks a live object the cache lacks against its signed record", async () => {
    const s3 = adminClient();
    await s3.copyObject(keyOf(files[2]!), keyOf(older));
    await s3.copyObject(signedKey(files[2]!), signedKey(older));
    const url = `s3://${BUCKET}/${keyOf(older)}`;
    const misattested = serverVerify(world);
    expect(misattested.status).toBe(1);
    const problem = "its archive id, digest or size is not what its signed receipt attests";
    expect(misattested.lines.find((l) => l.bucket === url)).toMatchObject({ ok: false, problem });
    const book = path.join(world.dir, "cache", ".hashrelay", "damaged.json");
    expect(fs.readFileSync(book, "utf8")).toContain(older);
    await s3.deleteObject(signedKey(older)); // without a record: its members alone, which inflate
    const unsigned = serverVerify(world);
    expect(unsigned.lines.find((l) => l.bucket === url)).toMatchObject({ ok: true });
    expect(fs.readFileSync(book, "utf8")).not.toContain(older); // found whole again: the record dropped
  }, 60_000);

  test("the scheduled scrub reads the bucket's objects too, the cache's and those it lacks", async () => {
    const s3 = adminClient();
    await s3.copyObject(signedKey(files[2]!), signedKey(older)); // misattested again
    await damageObject(keyOf(files[2]!));
    const scrubbing = await restart({ extra: "  scrub: 10s\n" });
    await scrubbing.waitForLog(`scrub: web01/${files[2]} is damaged`, 30_000);
    await scrubbing.waitForLog(`scrub: web01/${older} is damaged`, 30_000);
    const status = runBinary(["status", "--config", world.serverConfig]);
    expect(status.stdout).toContain(`DAMAGED web01/${files[2]}  found by scrub`);
    for (const key of [keyOf(older), signedKey(older)]) await s3.deleteObject(key);
  }, 60_000);

  test("the bucket's trash keeps the last good archive while every live one is damaged (trashVersions, trashFor)", async () => {
    // live: files[2], damaged (the scrub); trash: files[0] good, files[1] damaged and newer
    const [good, bad] = files;
    const capped = await restart({ trashVersions: 1 });
    await capped.waitForLog("bucket.kept-last-good");
    expect(byTime(await trashed())).toEqual([good!, bad!]);
    await untilAged(adminClient(), `${PREFIX}/.trash/web01/`, 1_100); // trashFor 1s: due when the server starts
    const expired = await restart({ trashFor: "1s" });
    await expired.waitForLog("reason=trashFor");
    await expired.waitForLog("bucket.kept-last-good");
    expect(await trashed()).toEqual([good!]);
  }, 60_000);

  test("status and /metrics report the bucket beside the cache: reachable, its objects; unreachable with the last error", async () => {
    const port = await freePort();
    const startedAt = Date.now() / 1000;
    const running = await restart({ extra: `  metrics: 127.0.0.1:${port}\n` });
    await running.waitForLog(`metrics on http://127.0.0.1:${port}/metrics`);
    // the purge at start lists the bucket once; a scrape only reads what it found (until then, an earlier server's listing)
    const url = `s3://${BUCKET}/${PREFIX}`;
    let samples = await scrape(port);
    while (!((samples.get("hashrelay_bucket_listed_timestamp_seconds") ?? 0) >= startedAt)) samples = await scrape(port);
    const sizes = async (prefix: string) => {
      const found: number[] = [];
      for await (const o of adminClient().listAllObjects(prefix)) if (o.key.endsWith(".tar.gz")) found.push(o.size);
      return found;
    };
    const [live, trash] = [await sizes(`${PREFIX}/web01/`), await sizes(`${PREFIX}/.trash/`)];
    expect(samples.get(`hashrelay_bucket_info{url="${url}",endpoint="${rgw!.endpoint}"}`)).toBe(1);
    expect(samples.get("hashrelay_bucket_reachable")).toBe(1);
    expect(samples.get('hashrelay_bucket_objects{place="live"}')).toBe(live.length);
    expect(samples.get('hashrelay_bucket_bytes{place="live"}')).toBe(live.reduce((n, b) => n + b, 0));
    expect(samples.get('hashrelay_bucket_objects{place="trash"}')).toBe(trash.length);
    expect(samples.get('hashrelay_bucket_bytes{place="trash"}')).toBe(trash.reduce((n, b) => n + b, 0));
    const status = runBinary(["status", "--config", world.serverConfig]).stdout;
    expect(status).toContain(`storage ${url}, cache ${path.join(world.dir, "cache")}:`);
    expect(status).toContain(`Bucket ${url} at ${rgw!.endpoint}: reachable; ${live.length} live archive(s)`);

    // the store down: what the next listing records (the purge's, run here by hand rather than a minute later)
    await rgw!.killGateway();
    try {
      const config = { url, bucket: BUCKET, prefix: PREFIX, pathStyle: true };
      const usage = await refreshBucketUsage(
        new StoreLayout(path.join(world.dir, "cache")),
        new BucketArchives(adminClient(), config),
        () => {},
        Date.now(),
      );
      expect(usage.reachable).toBe(false);
      samples = await scrape(port);
      expect(samples.get("hashrelay_bucket_reachable")).toBe(0);
      expect(samples.get("hashrelay_bucket_last_error_timestamp_seconds")).toBeGreaterThan(0);
      expect(samples.get('hashrelay_bucket_objects{place="live"}')).toBe(live.length); // as last listed
      const down = runBinary(["status", "--config", world.serverConfig]).stdout;
      expect(down).toContain(`Bucket ${url} at ${rgw!.endpoint}: UNREACHABLE;`);
      expect(down).toContain("\n  last error ");
      expect(down).toContain(`: ${usage.lastError}\n`);
    } finally {
      await rgw!.restartGateway();
    }
  }, 60_000);
  /** `hashrelay server audit --check --json`: its exit status and report. */
  const auditCheck = () => {
    const run = runBinary(["server", "audit", "--check", "--json", "--config", world.serverConfig]);
    return { status: run.status, report: JSON.parse(run.stdout) as AuditReport };
  };
  const cacheFile = (...parts: string[]) => path.join(world.dir, "cache", ...parts);

  test("the bucket holds each audit line the server appended, under its server id; server audit --check walks that chain", async () => {
    await server?.stop(); // the earlier tests' backups, trash moves, scrub findings and purges: all appended, all copied
    server = null;
    const local = fs.readFileSync(cacheFile(".audit", "audit.log"), "utf8").trimEnd().split("\n");
    const id = fs.readFileSync(cacheFile(".hashrelay", "lease-server-id"), "utf8").trim();
    const lineKey = (seq: number) => `${PREFIX}/.hashrelay/audit/${id}/${String(seq).padStart(12, "0")}.json`;
    const s3 = adminClient();
    expect(local.length).toBeGreaterThan(5);
    for (const [i, line] of local.entries()) expect(new TextDecoder().decode(await s3.getBytes(lineKey(i + 1)))).toBe(line);
    const intact = auditCheck();
    expect(intact.status).toBe(0);
    expect(intact.report.bucket).toEqual([
      { server: id, prefix: `${PREFIX}/.hashrelay/audit/${id}/`, ok: true, lines: local.length, head: intact.report.head, recovered: [] },
    ]);
    const text = runBinary(["server", "audit", "--check", "--config", world.serverConfig]).stdout;
    expect(text).toContain(`server ${id}: audit chain intact: ${local.length} lines, head ${intact.report.head}`);

    // one line edited by hand in the bucket: the check names it (the local log is untouched)
    const edited = local[2]!.replace(`"seq":3,`, `"seq":3,"note":"x",`);
    await s3.putObject(lineKey(3), new TextEncoder().encode(edited));
    const bad = auditCheck();
    expect([bad.status, bad.report.ok, bad.report.bucket?.[0]?.ok, bad.report.bucket?.[0]?.line]).toEqual([1, true, false, 4]);
    expect(bad.report.bucket?.[0]?.problem).toContain("line 3 was edited");
    // one deleted in the middle: missing
    await s3.putObject(lineKey(3), new TextEncoder().encode(local[2]!));
    await s3.deleteObject(lineKey(2));
    const cut = auditCheck();
    expect(cut.status).toBe(1);
    expect(cut.report.bucket?.[0]).toMatchObject({ ok: false, line: 2, key: lineKey(2) });
    expect(cut.report.bucket?.[0]?.problem).toContain("line 2 is missing from the bucket");
    await s3.putObject(lineKey(2), new TextEncoder().encode(local[1]!));
    // its last line deleted: this server's upload record still names it
    await s3.deleteObject(lineKey(local.length));
    const tail = auditCheck();
    expect(tail.status).toBe(1);
    expect(tail.report.bucket?.[0]).toMatchObject({ ok: false, line: local.length });
    expect(tail.report.bucket?.[0]?.problem).toContain("this server's upload record");
    await s3.putObject(lineKey(local.length), new TextEncoder().encode(local.at(-1)!));

    // the cache's server id lost: the restarted server copies its log under its new id; the old chain stays and checks
    fs.rmSync(cacheFile(".hashrelay", "lease-server-id"));
    server = await startServer(world);
    await server.waitForLog("audit.bucket-caught-up");
    await server.stop();
    server = null;
    const both = auditCheck();
    expect(both.status).toBe(0);
    expect(both.report.bucket?.map((c) => c.ok)).toEqual([true, true]);
    expect(both.report.bucket?.map((c) => c.server)).toContain(id);
  }, 60_000);

  test("lines the store did not take (radosgw killed) never fail an append, and the catch-up fills the bucket's chain in order", async () => {
    const cache = fs.mkdtempSync(path.join(world.dir, "audit-cache-"));
    fs.mkdirSync(path.join(cache, ".hashrelay")); // as Store.open makes it
    const config = { url: `s3://${BUCKET}/audit-faults`, bucket: BUCKET, prefix: "audit-faults", pathStyle: true };
    const bucket = new BucketArchives(adminClient(), config);
    await bucket.leases.useServerIdOf(cache);
    const copy = await BucketAudit.open(bucket, cache, () => {});
    const audit = await AuditLog.open(cache, { appended: (line) => copy.appended(line) });
    const purge = (n: number) => audit.append({ event: "purge", client: "web01", item: `item-${n}`, trashedAt: new Date(0).toISOString() });
    await purge(1);
    await purge(2);
    await copy.flushed();
    const chain = async () => (await checkBucketAudit(bucket)).map((c) => [c.server, c.report.ok, c.report.lines]);
    expect(await chain()).toEqual([[bucket.leases.serverId, true, 2]]);
    await rgw!.killGateway();
    try {
      await purge(3); // resolves: the local append is the rule
      await purge(4);
      await copy.flushed();
      await copy.catchUp(); // the store still down: nothing, no throw
    } finally {
      await rgw!.restartGateway();
    }
    expect(await chain()).toEqual([[bucket.leases.serverId, true, 2]]);
    await purge(5); // behind: waits for the catch-up, never uploaded out of order
    await copy.flushed();
    expect(await chain()).toEqual([[bucket.leases.serverId, true, 2]]);
    await copy.catchUp();
    expect(await chain()).toEqual([[bucket.leases.serverId, true, 5]]);
    const local = fs
      .readFileSync(path.join(cache, ".audit", "audit.log"), "utf8")
      .trimEnd()
      .split("\n");
    const last = await bucket.s3.getBytes(`${bucket.auditPrefix(bucket.leases.serverId)}000000000005.json`);
    expect(new TextDecoder().decode(last)).toBe(local[4]!);
    await purge(6); // caught up: the next line goes up at once again
    await copy.flushed();
    expect(await chain()).toEqual([[bucket.leases.serverId, true, 6]]);

    // the local log moved aside, a new one started: it does not continue the bucket's chain, so it is not copied
    await audit.flushed();
    for (const file of ["audit.log", "audit.head"])
      fs.renameSync(path.join(cache, ".audit", file), path.join(cache, ".audit", `${file}.old`));
    const notes: string[] = [];
    const again = await BucketAudit.open(bucket, cache, (_level, event) => notes.push(event));
    const restarted = await AuditLog.open(cache, { appended: (line) => again.appended(line) });
    for (let n = 1; n <= 7; n++)
      await restarted.append({ event: "purge", client: "web01", item: `new-${n}`, trashedAt: new Date(0).toISOString() });
    await again.catchUp();
    await again.flushed();
    expect(await chain()).toEqual([[bucket.leases.serverId, true, 6]]);
    expect(notes).toContain("audit.bucket-diverged");
  }, 60_000);
});
