// Holds and retention.keep > 1 on an S3 storage shared by two servers (issue 19), against a real Ceph RGW (one cluster, ~14 s to start; 45-52 s in all at load 4-5 on 2 cores); skipped with a banner where Ceph cannot start.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createCipheriv, randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { formatSize } from "../config/units.ts";
import { BucketLeases } from "../store/bucket-lease.ts";
import { startCephRgw } from "../testing/ceph-rgw.ts";
import { adminClient as adminClientOf, byTime, type BucketPlace, storeInBucket } from "../testing/bucket-world.ts";
import { writeDocuments } from "../testing/document-tree.ts";
import {
  ensureBinary,
  freePort,
  makeWorld,
  runBinary,
  runClientOnce,
  startServer,
  tempDir,
  treeFacts,
  writeClientConfig,
  writeNoiseFiles,
  writeServerConfig,
  type ServerProcess,
  type World,
} from "../testing/e2e-harness.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
const BUCKET = "hashrelay-holds";
const PREFIX = "site-h";
const HOLD_KEY = `${PREFIX}/.hashrelay/holds/web01/docs.json`;
const rgw = await startCephRgw();
afterAll(() => rgw?.stop());

/** A client of the test bucket, as an admin's own tool would be. */
const place: BucketPlace = { rgw: rgw!, bucket: BUCKET, prefix: PREFIX };
const adminClient = () => adminClientOf(place);

/** How a server of the test stores: retention.keep, retention.suspect.releaseAfter, web01's quota in bytes. */
interface Rules {
  keep: number;
  releaseAfter?: number;
  quota?: number;
}

/** Server `config` of the world on the bucket, with its own port and cache. */
function bucketServer(world: World, config: string, cache: string, rules: Rules, port: number): World {
  const server: World = { ...world, port, serverConfig: path.join(world.dir, config) };
  writeServerConfig(server, [{ name: "web01", key: world.clientPub }], { keep: rules.keep });
  storeInBucket(server, place, { cache: `./${cache}` });
  const quota = rules.quota === undefined ? "" : `      quota: ${rules.quota}B\n`;
  const suspect = rules.releaseAfter === undefined ? "" : `    suspect:\n      releaseAfter: ${rules.releaseAfter}\n`;
  const text = fs.readFileSync(server.serverConfig, "utf8");
  fs.writeFileSync(server.serverConfig, text.replace(/( {6}key: .*\n)/, `$1${quota}`).replace(/( {4}trashFor: .*\n)/, `$1${suspect}`));
  return server;
}

/** Encrypts each file in place with a key of its own, as ransomware would. */
function encrypt(files: readonly string[]): void {
  for (const file of files) {
    const cipher = createCipheriv("aes-256-ctr", randomBytes(32), randomBytes(16));
    fs.writeFileSync(file, Buffer.concat([cipher.update(fs.readFileSync(file)), cipher.final()]));
  }
}

/** The hold of web01/docs in the bucket. */
async function bucketHold(): Promise<unknown> {
  return JSON.parse(new TextDecoder().decode(await adminClient().getBytes(HOLD_KEY)));
}

/** Bytes of the objects under `prefix`. */
async function bytesUnder(prefix: string): Promise<number> {
  let bytes = 0;
  for await (const o of adminClient().listAllObjects(prefix)) bytes += o.size;
  return bytes;
}

async function objects(prefix: string): Promise<string[]> {
  const files: string[] = [];
  for await (const o of adminClient().listAllObjects(prefix)) files.push(path.basename(o.key));
  return files;
}

type Result = { status: string; archive: string; held?: { file: string } };

/** One `client --once` through `server`; returns its only result. */
function backupThrough(world: World, server: World, sources: string[]): Result {
  writeClientConfig(world, sources, { port: server.port });
  const run = runClientOnce(world);
  if (run.status !== 0) throw new Error(`the backup failed (${run.status}):\n${run.stderr}`);
  return run.report.results[0] as Result;
}

describe.skipIf(!rgw)("holds and retention on an S3 storage, two servers", () => {
  let world: World;
  let a: World;
  let b: World;
  let serverA: ServerProcess;
  let serverB: ServerProcess;

  beforeAll(async () => {
    ensureBinary();
    await adminClient().createBucket();
    world = await makeWorld(["./docs"]);
    a = bucketServer(world, "server-a.yaml", "cache-a", { keep: 1 }, world.port);
    b = bucketServer(world, "server-b.yaml", "cache-b", { keep: 1 }, await freePort());
    [serverA, serverB] = await Promise.all([startServer(a), startServer(b)]);
  });
  afterAll(async () => {
    await serverA?.stop("SIGKILL");
    await serverB?.stop("SIGKILL");
  });

  test("judged on one server, kept by the other's retention, released through it", async () => {
    const docs = path.join(world.dir, "docs");
    const texts = writeDocuments(docs);
    const live = () => objects(`${PREFIX}/web01/backup-docs-`);
    const good = backupThrough(world, b, ["./docs"]).archive; // B's cache holds it from now on
    await Bun.sleep(1100); // archive names carry the second
    encrypt(texts);
    const suspect = backupThrough(world, a, ["./docs"]);
    expect(suspect.held).toMatchObject({ file: good }); // judged on A
    expect(await bucketHold()).toMatchObject({ kept: good, consistent: 0 });

    await Bun.sleep(1100);
    for (const file of texts.slice(0, 10)) fs.appendFileSync(file, "edited today\n");
    const later = backupThrough(world, b, ["./docs"]); // B's cache still has `good`: without the hold, its retention would trash it
    expect([later.status, later.held]).toEqual(["sent", expect.objectContaining({ file: good })]);
    expect(await live()).toEqual([good, later.archive].sort());
    expect(await objects(`${PREFIX}/.trash/web01/`)).toEqual([suspect.archive, `${suspect.archive}.signed.json`]);
    // one consistent backup since the suspect one, counted by the server that stored it
    expect(await bucketHold()).toMatchObject({ kept: good, consistent: 1 });

    // while another server stores docs, the release waits for its lease, then goes through
    const lease = `${PREFIX}/.hashrelay/leases/web01/docs/`;
    const other = new BucketLeases(adminClient());
    await other.take(lease);
    const release = Bun.spawn([ensureBinary(), "release", "docs", "--client", "web01", "--config", b.serverConfig], { stdout: "pipe" });
    await serverB.waitForLog("release.waiting");
    expect(await adminClient().headObject(HOLD_KEY)).not.toBeNull();
    await other.release(lease);
    const [status, stdout] = await Promise.all([release.exited, new Response(release.stdout).text()]);
    expect([status, stdout]).toEqual([0, expect.stringContaining(`released web01/docs: ${good} moved to the trash`)]);
    expect(await live()).toEqual([later.archive]);
    expect(await objects(`${PREFIX}/.trash/web01/`)).toContain(good);
    expect(await adminClient().headObject(HOLD_KEY)).toBeNull();

    // A, which judged it, hears of the release from the bucket
    const listed = runBinary(["release", "--list", "--json", "--config", a.serverConfig]);
    expect(JSON.parse(listed.stdout).holds).toEqual([]);
    const unchanged = backupThrough(world, a, ["./docs"]);
    expect([unchanged.status, unchanged.held]).toEqual(["unchanged", undefined]);
    expect(fs.existsSync(path.join(world.dir, "cache-a", ".holds", "web01", "docs.json"))).toBe(false);
    await serverA.waitForLog("hold.dropped");
  });

  test("retention.keep 2: a rebuilt cache lists and restores both live archives, and trashes the right object next", async () => {
    await serverB.stop();
    await serverA.stop();
    a = bucketServer(world, "server-a.yaml", "cache-a", { keep: 2 }, world.port);
    serverA = await startServer(a);
    const site = path.join(world.dir, "site");
    writeNoiseFiles(site, 1, 3, 256 * KiB, "f");
    const live = () => objects(`${PREFIX}/web01/backup-site-`);
    const first = backupThrough(world, a, ["./site"]).archive;
    await Bun.sleep(1100);
    writeNoiseFiles(site, 2, 1, 256 * KiB, "g");
    const second = backupThrough(world, a, ["./site"]).archive;
    const secondTree = treeFacts(site);
    await Bun.sleep(1100);
    writeNoiseFiles(site, 3, 1, 256 * KiB, "h");
    const third = backupThrough(world, a, ["./site"]).archive;
    expect(byTime(await live())).toEqual([second, third]);
    expect(byTime(await objects(`${PREFIX}/.trash/web01/backup-site-`))).toEqual([first, `${first}.signed.json`]);

    await serverA.stop();
    fs.rmSync(path.join(world.dir, "cache-a"), { recursive: true });
    serverA = await startServer(a);
    const ls = runBinary(["ls", "--config", world.clientConfig, "--json"]);
    expect(ls.status).toBe(0);
    const listed = (JSON.parse(ls.stdout) as { archives: { file: string; trashed?: boolean }[] }).archives;
    expect(listed.filter((x) => !x.trashed && x.file.startsWith("backup-site-")).map((x) => x.file)).toEqual([second, third]);
    const to = tempDir("s3-keep-restore");
    const restore = runBinary(["restore", "site", "--file", second, "--config", world.clientConfig, "--to", to]);
    expect([restore.status, restore.stderr]).toEqual([0, ""]);
    expect(treeFacts(path.join(to, "site"))).toEqual(secondTree);

    await Bun.sleep(1100);
    writeNoiseFiles(site, 4, 1, 256 * KiB, "i");
    const fourth = backupThrough(world, a, ["./site"]).archive;
    expect(byTime(await live())).toEqual([third, fourth]);
    expect(byTime(await objects(`${PREFIX}/.trash/web01/backup-site-`))).toEqual([
      first,
      `${first}.signed.json`,
      second,
      `${second}.signed.json`,
    ]);
  });

  test("a quota counts the client's objects in the bucket's trash, which the cache does not hold", async () => {
    const live = await bytesUnder(`${PREFIX}/web01/`);
    const trash = await bytesUnder(`${PREFIX}/.trash/web01/`);
    expect(trash).toBeGreaterThan(MiB);
    // room for the next archive when only the cache's archives count; none once the bucket's trash does
    await serverA.stop();
    a = bucketServer(world, "server-a.yaml", "cache-a", { keep: 2, quota: live + trash - 512 * KiB }, world.port);
    serverA = await startServer(a);
    writeNoiseFiles(path.join(world.dir, "site"), 5, 1, 64 * KiB, "j");
    writeClientConfig(world, ["./site"], { port: a.port });
    const refused = runClientOnce(world);
    expect(refused.status).not.toBe(0);
    expect(refused.report.results[0]!.error).toContain(`trash ${formatSize(trash)}`);
  });

  test("releaseAfter counts the later archives whichever server stores them", async () => {
    await Promise.all([serverA.stop(), serverB.stop()]);
    a = bucketServer(world, "server-a.yaml", "cache-a", { keep: 1, releaseAfter: 2 }, world.port);
    b = bucketServer(world, "server-b.yaml", "cache-b", { keep: 1, releaseAfter: 2 }, b.port);
    [serverA, serverB] = await Promise.all([startServer(a), startServer(b)]);
    const texts = writeDocuments(path.join(world.dir, "docs")); // plain text again: not suspect
    const plain = backupThrough(world, a, ["./docs"]).archive;
    await Bun.sleep(1100);
    encrypt(texts);
    expect(backupThrough(world, a, ["./docs"]).held).toMatchObject({ file: plain });
    await Bun.sleep(1100);
    fs.appendFileSync(texts[0]!, "edited today\n");
    backupThrough(world, b, ["./docs"]);
    expect(await bucketHold()).toMatchObject({ kept: plain, consistent: 1 });
    await Bun.sleep(1100);
    fs.appendFileSync(texts[1]!, "edited today\n");
    const last = backupThrough(world, a, ["./docs"]);
    expect(last.held).toBeUndefined();
    expect(await adminClient().headObject(HOLD_KEY)).toBeNull();
    expect(await objects(`${PREFIX}/web01/backup-docs-`)).toEqual([last.archive]);
    expect(await objects(`${PREFIX}/.trash/web01/`)).toContain(plain);
  });
});
