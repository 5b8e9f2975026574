// The server on an S3 storage (issue 19) against a real Ceph RGW (one cluster for the file, ~14 s to start), with the compiled binary over real TCP; skipped with a banner where Ceph cannot start.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { createCipheriv, randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { HashRelayError } from "../errors.ts";
import { BucketLeases } from "../store/bucket-lease.ts";
import {
  adminClient as adminClientOf,
  backup,
  byTime,
  type BucketOptions,
  type BucketPlace,
  untilAged,
  useBucket as useBucketOf,
} from "../testing/bucket-world.ts";
import { startCephRgw } from "../testing/ceph-rgw.ts";
import {
  ensureBinary,
  freePort,
  makeWorld,
  runBinary,
  startServer,
  tempDir,
  treeFacts,
  writeClientConfig,
  writeNoiseFiles,
  type ServerProcess,
  type World,
} from "../testing/e2e-harness.ts";
import { writeDocuments } from "../testing/document-tree.ts";

const MiB = 1024 * 1024;
const BUCKET = "hashrelay-e2e";
const PREFIX = "site-a";
const rgw = await startCephRgw();
afterAll(() => rgw?.stop());

const place: BucketPlace = { rgw: rgw!, bucket: BUCKET, prefix: PREFIX };
const adminClient = () => adminClientOf(place);
const useBucket = (world: World, options: BucketOptions = {}) => useBucketOf(world, place, options);

/** The figures of the server's last `archive.published` log line. */
function lastPublish(server: ServerProcess): { bytesUploaded: number; bytesSent: number; bytesCopied: number } {
  const line =
    server
      .log()
      .split("\n")
      .filter((l) => l.includes("archive.published"))
      .at(-1) ?? "";
  const field = (name: string) => Number(new RegExp(`${name}=(\\d+)`).exec(line)?.[1]);
  return { bytesUploaded: field("bytesUploaded"), bytesSent: field("bytesSent"), bytesCopied: field("bytesCopied") };
}

/** Restores `key` with a plain GET piped into `tar -xz`, as `aws s3 cp s3://… - | tar -xz` would. */
async function untarObject(key: string): Promise<string> {
  const to = tempDir("s3-untar");
  const bytes = await adminClient().getBytes(key);
  const untar = spawnSync("tar", ["-xz", "-C", to], { input: bytes });
  expect(untar.status).toBe(0);
  return to;
}

describe.skipIf(!rgw)("an S3 storage on a real Ceph RGW", () => {
  let world: World;
  let server: ServerProcess;
  const site = () => path.join(world.dir, "site");
  const objects = async (prefix: string) => {
    const keys: string[] = [];
    for await (const o of adminClient().listAllObjects(prefix)) keys.push(o.key);
    return keys;
  };

  beforeAll(async () => {
    ensureBinary();
    await adminClient().createBucket();
    world = await makeWorld(["./site"]);
    writeNoiseFiles(site(), 1, 24, MiB, "f");
  });
  afterAll(() => server?.stop("SIGKILL"));

  test("wrong credentials: a clear error at start, exit 2", () => {
    useBucket(world, { secret: "not-the-secret" });
    const run = runBinary(["server", "--config", world.serverConfig]);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain("the object store refused the credentials");
  });

  test("first backup, then an incremental one: composed in the bucket, restorable with tar, the old one in the trash", async () => {
    useBucket(world);
    server = await startServer(world);
    const first = await backup(world);
    expect(first.status).toBe(0);
    const firstFile = first.report.results[0]!.archive!;
    const firstKey = `${PREFIX}/web01/${firstFile}`;
    expect(await objects(`${PREFIX}/web01/`)).toEqual([firstKey]);
    expect(treeFacts(path.join(await untarObject(firstKey), "site"))).toEqual(treeFacts(site()));
    expect(await objects(`${PREFIX}/.hashrelay/signed/`)).toEqual([`${PREFIX}/.hashrelay/signed/web01/${firstFile}.json`]);

    writeNoiseFiles(site(), 2, 1, MiB, "f-11"); // one new 1 MiB file in the middle of the tar
    const second = await backup(world);
    expect(second.status).toBe(0);
    const secondFile = second.report.results[0]!.archive!;
    const secondKey = `${PREFIX}/web01/${secondFile}`;
    // bytes the server sent the store: the change and at most two 5 MiB parts around it; the rest copied inside
    const { bytesUploaded, bytesSent, bytesCopied } = lastPublish(server);
    console.log(`incremental: ${bytesUploaded} bytes in uploaded parts (${bytesSent} sent in all), ${bytesCopied} copied inside the store`);
    expect(bytesUploaded).toBeLessThan(MiB + 2 * 5 * MiB + 64 * 1024);
    // the S3 client's own count: the same parts, and the signed record (a few KiB)
    expect(bytesSent - bytesUploaded).toBeGreaterThan(0);
    expect(bytesSent - bytesUploaded).toBeLessThan(16 * 1024);
    expect(bytesCopied).toBeGreaterThan(10 * MiB);
    expect(treeFacts(path.join(await untarObject(secondKey), "site"))).toEqual(treeFacts(site()));
    expect(
      Buffer.from(await adminClient().getBytes(secondKey)).equals(fs.readFileSync(path.join(world.dir, "cache", "web01", secondFile))),
    ).toBe(true);
    expect(await objects(`${PREFIX}/web01/`)).toEqual([secondKey]);
    expect(await objects(`${PREFIX}/.trash/`)).toEqual([
      `${PREFIX}/.trash/web01/${firstFile}`,
      `${PREFIX}/.trash/web01/${firstFile}.signed.json`,
    ]);
    expect(fs.readdirSync(path.join(world.dir, "cache", ".trash", "web01"))).toEqual([]); // no local trash on S3
  });

  test("radosgw killed mid-compose: the backup fails clearly, the old object intact; the next tick succeeds", async () => {
    const s3 = adminClient();
    const [before] = await objects(`${PREFIX}/web01/`);
    const beforeBytes = await s3.getBytes(before!);
    writeNoiseFiles(site(), 3, 30, MiB, "g"); // 30 MiB new: six uploaded parts at least
    const running = backup(world);
    // the fault: as soon as the compose has begun, the gateway dies
    while ((await s3.listMultipartUploads(`${PREFIX}/web01/`)).length === 0) await Bun.sleep(10);
    await rgw!.killGateway();
    const failed = await running;
    expect(failed.status).not.toBe(0);
    expect(failed.report.results[0]!.error).toContain("cannot publish web01/");
    expect(failed.report.results[0]!.error).toContain(`to s3://${BUCKET}/${PREFIX}: object store: `);
    await rgw!.restartGateway();
    expect(await objects(`${PREFIX}/web01/`)).toEqual([before!]);
    expect(Buffer.from(await s3.getBytes(before!)).equals(Buffer.from(beforeBytes))).toBe(true);

    const retried = await backup(world);
    expect([retried.status, retried.report.results[0]!.error]).toEqual([0, undefined]);
    const key = `${PREFIX}/web01/${retried.report.results[0]!.archive!}`;
    expect(await objects(`${PREFIX}/web01/`)).toEqual([key]);
    expect(treeFacts(path.join(await untarObject(key), "site"))).toEqual(treeFacts(site()));
    expect(await s3.listMultipartUploads(`${PREFIX}/`)).toEqual([]); // the aborted compose left nothing behind
  });

  test("trash in the bucket: capped by trashVersions, purged after trashFor", async () => {
    const trashed = async () => (await objects(`${PREFIX}/.trash/web01/`)).filter((k) => !k.endsWith(".signed.json"));
    const before = await trashed();
    expect(before.length).toBeGreaterThanOrEqual(2); // the first and the second archive
    await server.stop();
    useBucket(world, { trashVersions: 1 });
    server = await startServer(world);
    await server.waitForLog("bucket.purged");
    expect((await trashed()).length).toBe(1);
    expect(server.log()).toContain("reason=trashVersions");
    await server.stop();
    await untilAged(adminClient(), `${PREFIX}/.trash/web01/`, 1_100); // trashFor 1s: due when the server starts
    useBucket(world, { trashFor: "1s" });
    server = await startServer(world);
    await server.waitForLog("reason=trashFor");
    await server.waitForLog(/purged web01\/\S+ \(in trash since/); // the daemon logs it after the audit line
    expect(await objects(`${PREFIX}/.trash/`)).toEqual([]);
    expect(fs.readFileSync(path.join(world.dir, "cache", ".audit", "audit.log"), "utf8")).toContain('"event":"purge"');
  });

  test("the cache deleted: rebuilt from the bucket; an unchanged source sends nothing, restore works", async () => {
    await server.stop();
    fs.rmSync(path.join(world.dir, "cache"), { recursive: true });
    useBucket(world);
    server = await startServer(world);
    const again = await backup(world);
    expect(again.status).toBe(0);
    expect(again.report.results[0]!.status).toBe("unchanged");
    expect(server.log()).toContain("cache.downloaded");
    const to = tempDir("s3-restore");
    const restore = runBinary(["restore", "site", "--config", world.clientConfig, "--to", to]);
    expect(restore.status).toBe(0);
    expect(treeFacts(path.join(to, "site"))).toEqual(treeFacts(site()));
  });

  test("a second server on the bucket serves the same client alternately, nothing lost", async () => {
    const b: World = { ...world, port: await freePort(), serverConfig: path.join(world.dir, "server-b.yaml") };
    useBucket(b, { cache: "./cache-b" });
    const serverB = await startServer(b);
    try {
      writeNoiseFiles(site(), 4, 1, MiB, "g-3"); // a change, stored through B
      writeClientConfig(world, ["./site"], { port: b.port });
      const throughB = await backup(world);
      expect([throughB.status, throughB.report.results[0]!.status]).toEqual([0, "sent"]);
      const key = `${PREFIX}/web01/${throughB.report.results[0]!.archive}`;
      expect(await objects(`${PREFIX}/web01/`)).toEqual([key]);
      expect(lastPublish(serverB).bytesCopied).toBeGreaterThan(10 * MiB); // B composed from the object A stored
      writeClientConfig(world, ["./site"]); // back to A, whose cache still has the archive B superseded
      const throughA = await backup(world);
      expect([throughA.status, throughA.report.results[0]!.status]).toEqual([0, "unchanged"]);
      expect(server.log()).toContain("cache.dropped");
      expect(treeFacts(path.join(await untarObject(key), "site"))).toEqual(treeFacts(site()));
    } finally {
      await serverB.stop();
    }
  });

  test("a server with a fresh cache answers ls and restore at once from what the other stored", async () => {
    const c: World = { ...world, port: await freePort(), serverConfig: path.join(world.dir, "server-c.yaml") };
    useBucket(c, { cache: "./cache-c" });
    const serverC = await startServer(c);
    try {
      writeClientConfig(world, ["./site"], { port: c.port });
      const [stored] = await objects(`${PREFIX}/web01/`);
      // no offer to this server yet: the first ls and restore bring its cache in line with the bucket
      const ls = runBinary(["ls", "--config", world.clientConfig, "--json"]);
      expect(ls.status).toBe(0);
      const listed = (JSON.parse(ls.stdout) as { archives: { file: string; trashed?: boolean }[] }).archives;
      expect(listed.filter((a) => !a.trashed).map((a) => a.file)).toEqual([path.basename(stored!)]);
      const to = tempDir("s3-restore-c");
      const restore = runBinary(["restore", "site", "--config", world.clientConfig, "--to", to]);
      expect([restore.status, restore.stderr]).toEqual([0, ""]);
      expect(treeFacts(path.join(to, "site"))).toEqual(treeFacts(site()));
      await serverC.waitForLog("cache.downloaded");
    } finally {
      writeClientConfig(world, ["./site"]);
      await serverC.stop();
    }
  });

  test("ls lists the bucket's trashed archives with their purge time; restore --file brings one back", async () => {
    const trashedKeys = (await objects(`${PREFIX}/.trash/web01/`)).filter((k) => !k.endsWith(".signed.json"));
    expect(trashedKeys.length).toBeGreaterThan(0); // the archive B's backup superseded, trashed by B
    const trashedFile = path.basename(byTime(trashedKeys).at(-1)!);
    const ls = runBinary(["ls", "--config", world.clientConfig, "--json"]);
    expect(ls.status).toBe(0);
    const listed = (JSON.parse(ls.stdout) as { archives: { file: string; trashed?: boolean; purgeAt?: string }[] }).archives;
    const entry = listed.find((a) => a.file === trashedFile);
    expect(entry).toMatchObject({ trashed: true });
    expect(Date.parse(entry!.purgeAt!)).toBeGreaterThan(Date.now() + 47 * 3600_000); // trashFor 48h from its trash time
    const to = tempDir("s3-restore-trashed");
    const restore = runBinary(["restore", "site", "--file", trashedFile, "--config", world.clientConfig, "--to", to]);
    expect([restore.status, restore.stderr]).toEqual([0, ""]);
    expect(restore.stdout).toContain("(from trash)");
    // the same tree as the object itself, read with tar alone
    expect(treeFacts(path.join(to, "site"))).toEqual(treeFacts(path.join(await untarObject(trashedKeys.at(-1)!), "site")));
  });

  test("a source another server is storing: BUSY, nothing lost; leases race to one winner", async () => {
    const lease = `${PREFIX}/.hashrelay/leases/web01/site/`;
    const other = new BucketLeases(adminClient());
    await other.take(lease); // another server stores web01/site now
    writeNoiseFiles(site(), 5, 1, MiB, "g-4");
    const refused = await backup(world);
    expect(refused.status).not.toBe(0);
    expect(refused.report.results[0]!.error).toContain("web01/site is being stored through");
    await other.release(lease);
    const after = await backup(world);
    expect([after.status, after.report.results[0]!.status]).toEqual([0, "sent"]);
    // two servers at once: exactly one wins; a lapsed lease is overtaken by exactly one
    const [a, b] = [new BucketLeases(adminClient()), new BucketLeases(adminClient())];
    const race = await Promise.allSettled([a.take("race/x/"), b.take("race/x/")]);
    expect(race.map((r) => r.status).sort()).toEqual(["fulfilled", "rejected"]);
    expect(race.flatMap((r) => (r.status === "rejected" ? [(r.reason as HashRelayError).code] : []))).toEqual(["BUSY"]);
    const later = () => Date.now() + 11 * 60_000;
    const [c, d] = [new BucketLeases(adminClient(), later), new BucketLeases(adminClient(), later)];
    const overtake = await Promise.allSettled([c.take("race/x/"), d.take("race/x/")]);
    expect(overtake.map((r) => r.status).sort()).toEqual(["fulfilled", "rejected"]);
    const winner = race[0]!.status === "fulfilled" ? a : b;
    await expect(winner.check("race/x/")).rejects.toThrow("lease lapsed");
  });

  test("the ransomware hold: the predecessor of an encrypted copy stays live in the bucket until release", async () => {
    const docs = path.join(world.dir, "docs");
    const texts = writeDocuments(docs);
    writeClientConfig(world, ["./docs"]);
    const live = async () => (await objects(`${PREFIX}/web01/backup-docs-`)).map((k) => path.basename(k));
    const inTrash = async () => (await objects(`${PREFIX}/.trash/web01/backup-docs-`)).map((k) => path.basename(k));
    expect((await backup(world)).status).toBe(0);
    await Bun.sleep(1100); // archive names carry the second
    for (const file of texts.slice(0, 10)) fs.appendFileSync(file, "edited today\n");
    const edited = await backup(world);
    expect([edited.status, edited.report.results[0]!.status]).toEqual([0, "sent"]);
    const good = edited.report.results[0]!.archive!;
    expect(await live()).toEqual([good]);
    await Bun.sleep(1100);
    for (const file of texts) {
      const cipher = createCipheriv("aes-256-ctr", randomBytes(32), randomBytes(16));
      fs.writeFileSync(file, Buffer.concat([cipher.update(fs.readFileSync(file)), cipher.final()]));
    }
    const tick = await backup(world);
    expect(tick.status).toBe(0);
    const encrypted = tick.report.results[0]!.archive!;
    expect((tick.report.results[0] as { held?: { file: string } }).held).toMatchObject({ file: good });
    expect(await live()).toEqual([good, encrypted].sort());
    expect(await inTrash()).not.toContain(good);

    const released = runBinary(["release", "docs", "--client", "web01", "--config", world.serverConfig]);
    expect([released.status, released.stdout]).toEqual([0, expect.stringContaining(`released web01/docs: ${good} moved to the trash`)]);
    expect(await live()).toEqual([encrypted]);
    expect(await inTrash()).toContain(good);
  });
});
