// Faults of an S3 storage on a real Ceph RGW (one cluster, ~45 s in all): the store killed or hung under ls/restore/verify and a backup, a crashed server's lease.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { QUICK_TIMEOUT_MS } from "../store/bucket-archives.ts";
import { adminClient, backup, type BucketPlace, objectKeys, useBucket } from "../testing/bucket-world.ts";
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

const MiB = 1024 * 1024;
const rgw = await startCephRgw();
afterAll(() => rgw?.stop());

describe.skipIf(!rgw)("an S3 storage when the store or the server fails", () => {
  const place: BucketPlace = { rgw: rgw!, bucket: "hashrelay-faults", prefix: "site-f" };
  const live = () => objectKeys(place, `${place.prefix}/web01/`);
  let world: World;
  let server: ServerProcess;
  const site = () => path.join(world.dir, "site");

  /** Each command (ls, restore, verify) through the server, timed; every one must succeed from what the cache holds. */
  function readsFromCache(commands: readonly ("ls" | "restore" | "verify")[]): { command: string; seconds: number }[] {
    const to = tempDir("faults-restore");
    const argv = {
      ls: ["ls", "--config", world.clientConfig, "--json"],
      restore: ["restore", "site", "--config", world.clientConfig, "--to", to],
      verify: ["verify", "--config", world.clientConfig],
    };
    const timed = commands.map((command) => {
      const args = argv[command];
      const began = performance.now();
      const run = runBinary(args);
      expect([args[0], run.status, run.stderr]).toEqual([args[0], 0, ""]);
      return { command: args[0]!, seconds: (performance.now() - began) / 1000 };
    });
    expect(treeFacts(path.join(to, "site"))).toEqual(treeFacts(site()));
    return timed;
  }

  /** Resolves once the server has logged bucket.sync-failed `count` times in all. */
  function syncFailures(count: number): Promise<void> {
    return server.waitForLog(new RegExp(`(bucket\\.sync-failed[^]*){${count}}`));
  }

  beforeAll(async () => {
    ensureBinary();
    await adminClient(place).createBucket();
    world = await makeWorld(["./site"]);
    writeNoiseFiles(site(), 1, 8, MiB, "f");
    useBucket(world, place);
    server = await startServer(world);
    expect((await backup(world)).status).toBe(0);
  });
  afterAll(() => server?.stop("SIGKILL"));

  test("radosgw killed: ls, restore, verify answer from the cache at once; a backup fails STORAGE, the old object intact; then it stores", async () => {
    const [before] = await live();
    const beforeBytes = Buffer.from(await adminClient(place).getBytes(before!));
    await rgw!.killGateway();
    try {
      const timed = readsFromCache(["ls", "restore", "verify"]);
      console.log(`store down: ${timed.map((t) => `${t.command} ${t.seconds.toFixed(1)} s`).join(", ")}`);
      for (const { seconds } of timed) expect(seconds).toBeLessThan(QUICK_TIMEOUT_MS / 1000); // refused at once: no wait at all
      await syncFailures(3);
      writeNoiseFiles(site(), 2, 1, MiB, "f-3");
      const failed = await backup(world);
      expect(failed.status).not.toBe(0);
      expect(failed.report.results[0]!.error).toContain("cannot take the lease on web01/site in the object store: object store: ");
    } finally {
      await rgw!.restartGateway();
    }
    expect(await live()).toEqual([before!]);
    expect(Buffer.from(await adminClient(place).getBytes(before!)).equals(beforeBytes)).toBe(true);
    const stored = await backup(world);
    expect([stored.status, stored.report.results[0]!.status]).toEqual([0, "sent"]);
    expect(await live()).toEqual([`${place.prefix}/web01/${stored.report.results[0]!.archive}`]);
  });

  test("radosgw stopped (accepts, never answers): a restore, then a backup give up on it within QUICK_TIMEOUT_MS per request; then it stores", async () => {
    const [before] = await live();
    const logged = server.log().split("bucket.sync-failed").length - 1;
    rgw!.pauseGateway(true);
    try {
      // restore alone (~7 s): ls and verify begin with the same `list` (the sync, then the bucket's trash listed)
      const restore = readsFromCache(["restore"])[0]!.seconds;
      writeNoiseFiles(site(), 3, 1, MiB, "f-4");
      const began = performance.now();
      const failed = await backup(world);
      const seconds = (performance.now() - began) / 1000;
      console.log(`store hung: restore ${restore.toFixed(1)} s, a backup failed in ${seconds.toFixed(1)} s`);
      // each waits out one request of the sync and one more (the trash listing, the lease): not the 60 s request timeout
      for (const waited of [restore, seconds]) expect(waited).toBeLessThan((2 * QUICK_TIMEOUT_MS) / 1000 + 5);
      expect(failed.status).not.toBe(0);
      expect(failed.report.results[0]!.error).toMatch(/cannot take the lease on web01\/site in the object store: .*Timeout/);
      await syncFailures(logged + 2);
      expect(server.log()).toMatch(/Timeout.*bucket\.sync-failed/);
    } finally {
      rgw!.pauseGateway(false);
    }
    expect(await live()).toEqual([before!]);
    const stored = await backup(world);
    expect([stored.status, stored.report.results[0]!.status]).toEqual([0, "sent"]);
  });

  test("a server SIGKILLed mid-upload: restarted, it takes its own lease over at once; another server still gets BUSY", async () => {
    const idFile = path.join(world.dir, "cache", ".hashrelay", "lease-server-id");
    expect(fs.statSync(idFile).mode & 0o777).toBe(0o600);
    const leases = `${place.prefix}/.hashrelay/leases/web01/site/`;
    writeNoiseFiles(site(), 4, 12, MiB, "g"); // 12 MiB new: time to catch the upload running
    const running = backup(world);
    while ((await objectKeys(place, leases)).length === 0) await Bun.sleep(10);
    await server.stop("SIGKILL");
    expect((await running).status).not.toBe(0);
    expect(await objectKeys(place, leases)).toHaveLength(1); // the crashed server's lease, in force for 10 minutes

    const b: World = { ...world, port: await freePort(), serverConfig: path.join(world.dir, "server-b.yaml") };
    useBucket(b, place, { cache: "./cache-b" });
    const serverB = await startServer(b);
    try {
      writeClientConfig(world, ["./site"], { port: b.port });
      const refused = await backup(world);
      expect(refused.status).not.toBe(0);
      expect(refused.report.results[0]!.error).toContain("web01/site is being stored through");
    } finally {
      writeClientConfig(world, ["./site"]);
      await serverB.stop();
    }
    server = await startServer(world); // the same cache: the same server id
    const stored = await backup(world);
    expect([stored.status, stored.report.results[0]!.error, stored.report.results[0]!.status]).toEqual([0, undefined, "sent"]);
    expect(await live()).toEqual([`${place.prefix}/web01/${stored.report.results[0]!.archive}`]);
    expect(await objectKeys(place, leases)).toEqual([]); // taken over, then given back
  });
});
