// End to end: what the server refuses while receiving, and the client's memory bound whatever the source size.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { FrameType } from "../protocol/constants.ts";
import { decodeNeed, encodeChunkPayload, encodeManifestPage } from "../protocol/binary-frames.ts";
import { decodeControl } from "../protocol/messages.ts";
import { encodeGzipMember } from "../archive/gzip-member.ts";
import { deflateRaw } from "../io/compress.ts";
import { authenticatedPeer } from "../testing/raw-peer.ts";
import {
  ensureBinary,
  listTree,
  makeWorld,
  runClientOnce,
  startServer,
  tempDir,
  type ServerProcess,
  type World,
} from "../testing/e2e-harness.ts";

const encoder = new TextEncoder();
const sha = (b: Uint8Array) => new Uint8Array(createHash("sha256").update(b).digest());

describe("a client whose chunk bytes do not match the ids it announced", () => {
  let world: World;
  let server: ServerProcess;
  let previous: string;
  let previousBytes: Buffer;

  beforeAll(async () => {
    const data = path.join(tempDir("mismatch"), "docs");
    fs.mkdirSync(data);
    fs.writeFileSync(path.join(data, "a.txt"), "the good copy\n");
    world = await makeWorld([data]);
    server = await startServer(world);
    const first = runClientOnce(world);
    expect(first.status).toBe(0);
    previous = first.report.results[0]!.archive!;
    previousBytes = fs.readFileSync(path.join(world.storage, "web01", previous));
  });
  afterAll(async () => {
    await server?.stop();
  });

  async function offerOneChunk(announced: Uint8Array, sent: Uint8Array) {
    const { peer, channel } = await authenticatedPeer(world.port, path.join(world.dir, "client.key"), world.serverPub);
    const control = async () => decodeControl(channel.open((await peer.next())!));
    peer.send(channel.seal(FrameType.SEALED_CONTROL, encoder.encode('{"type":"offer","name":"docs"}')));
    expect(await control()).toMatchObject({ type: "send-manifest" });
    peer.send(
      channel.seal(
        FrameType.SEALED_MANIFEST,
        encodeManifestPage({ firstIndex: 0, entries: [{ id: sha(announced), rawLength: announced.length }] }),
      ),
    );
    const need = decodeNeed(channel.open((await peer.next())!));
    expect(need.needed).toEqual([0]);
    peer.send(channel.seal(FrameType.SEALED_CHUNK, encodeChunkPayload({ index: 0, member: encodeGzipMember(sent, deflateRaw) })));
    return { reply: await control(), closed: await peer.closedWithin(3000) };
  }

  test("HASH_MISMATCH, the session ends, nothing is stored and the previous archive is intact", async () => {
    const good = encoder.encode("x".repeat(5000));
    const forged = encoder.encode("y".repeat(5000));
    const { reply, closed } = await offerOneChunk(good, forged);
    expect(reply).toMatchObject({ type: "error", code: "HASH_MISMATCH" });
    expect(closed).toBe(true);
    expect(fs.readdirSync(path.join(world.storage, "web01"))).toEqual([previous]);
    expect(fs.readFileSync(path.join(world.storage, "web01", previous)).equals(previousBytes)).toBe(true);
    expect(listTree(path.join(world.storage, ".hashrelay", "tmp"))).toEqual([]);
    await server.waitForLog("HASH_MISMATCH");
  });

  test("a chunk of the right bytes but another length is refused the same way", async () => {
    const { reply } = await offerOneChunk(encoder.encode("z".repeat(5000)), encoder.encode("z".repeat(4999)));
    expect(reply).toMatchObject({ type: "error", code: "HASH_MISMATCH" });
    expect(fs.readdirSync(path.join(world.storage, "web01"))).toEqual([previous]);
  });
});

/** Runs `client --once` and samples its peak resident memory (VmHWM) until it exits. */
async function clientPeakRss(world: World): Promise<{ code: number | null; peakKiB: number; stdout: string }> {
  const child = spawn(ensureBinary(), ["client", "--once", "--json", "--config", world.clientConfig], {
    stdio: ["ignore", "pipe", "ignore"],
  });
  let stdout = "";
  child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  let peakKiB = 0;
  const exited = new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
  let done = false;
  void exited.then(() => (done = true));
  while (!done) {
    try {
      const status = fs.readFileSync(`/proc/${child.pid}/status`, "utf8");
      const hwm = Number(status.match(/VmHWM:\s+(\d+)/)?.[1] ?? 0);
      peakKiB = Math.max(peakKiB, hwm);
    } catch {
      // exited between two samples
    }
    await Bun.sleep(20);
  }
  return { code: await exited, peakKiB, stdout };
}

describe("the client's memory is bounded by its window, not by the source", () => {
  test("a 2 GiB sparse file costs at most 64 MiB more peak memory than a 64 MiB one", async () => {
    const dir = tempDir("sparse");
    const small = path.join(dir, "small");
    const big = path.join(dir, "big");
    fs.mkdirSync(small);
    fs.mkdirSync(big);
    fs.writeFileSync(path.join(small, "disk.img"), "");
    fs.truncateSync(path.join(small, "disk.img"), 64 * 1024 * 1024);
    fs.writeFileSync(path.join(big, "disk.img"), "");
    fs.truncateSync(path.join(big, "disk.img"), 2 * 1024 * 1024 * 1024);
    fs.writeFileSync(path.join(big, "header.bin"), Buffer.from(createHash("sha512").update("seed").digest()));

    const smallWorld = await makeWorld([small]);
    const smallServer = await startServer(smallWorld);
    const smallRun = await clientPeakRss(smallWorld);
    await smallServer.stop();
    expect(smallRun.code).toBe(0);

    const bigWorld = await makeWorld([big]);
    const bigServer = await startServer(bigWorld);
    const bigRun = await clientPeakRss(bigWorld);
    await bigServer.stop();
    expect(bigRun.code).toBe(0);
    const report = JSON.parse(bigRun.stdout) as { results: { status: string; chunksTotal: number; chunksSent: number }[] };
    expect(report.results[0]!.status).toBe("sent");
    expect(report.results[0]!.chunksTotal).toBeGreaterThanOrEqual(8192); // 2 GiB in chunks of at most 256 KiB
    expect(report.results[0]!.chunksSent).toBeLessThan(10); // zeros: one chunk, deduplicated

    console.log(`client peak RSS: 64 MiB source ${smallRun.peakKiB} KiB, 2 GiB source ${bigRun.peakKiB} KiB`);
    expect(bigRun.peakKiB).toBeLessThan(smallRun.peakKiB + 64 * 1024);
    const stored = fs.readdirSync(path.join(bigWorld.storage, "web01"));
    expect(stored).toHaveLength(1);
  }, 120_000);
});

describe("compression: zstd", () => {
  test(".tar.zst archives that zstd -t and tar --zstd accept; switching back to gzip gives a valid .tar.gz", async () => {
    const data = path.join(tempDir("zstd"), "docs");
    fs.mkdirSync(data);
    for (let i = 0; i < 30; i++) fs.writeFileSync(path.join(data, `page-${i}.txt`), `zstd page ${i}\n`.repeat(2000));
    const world = await makeWorld([data]);
    const gzipConfig = fs.readFileSync(world.clientConfig, "utf8");
    fs.writeFileSync(world.clientConfig, gzipConfig.replace('schedule: "every 30m"', 'schedule: "every 30m"\n  compression: zstd'));
    const server = await startServer(world);
    try {
      const first = runClientOnce(world);
      expect(first.status).toBe(0);
      const zst = first.report.results[0]!.archive!;
      expect(zst).toMatch(/^backup-docs-.*\.tar\.zst$/);
      const zstPath = path.join(world.storage, "web01", zst);
      expect(spawnSync("zstd", ["-q", "-t", zstPath]).status).toBe(0);
      const restore = tempDir("zstd-restore");
      expect(spawnSync("tar", ["--zstd", "-xf", zstPath, "-C", restore]).status).toBe(0);
      expect(fs.readFileSync(path.join(restore, "docs", "page-7.txt"), "utf8")).toBe(`zstd page 7\n`.repeat(2000));

      fs.appendFileSync(path.join(data, "page-3.txt"), "one more line\n");
      fs.writeFileSync(world.clientConfig, gzipConfig);
      const second = runClientOnce(world);
      expect(second.status).toBe(0);
      const gz = second.report.results[0]!.archive!;
      expect(gz).toMatch(/\.tar\.gz$/);
      const gzPath = path.join(world.storage, "web01", gz);
      expect(spawnSync("gzip", ["-t", gzPath]).status).toBe(0);
      const restore2 = tempDir("gz-restore");
      expect(spawnSync("tar", ["-xzf", gzPath, "-C", restore2]).status).toBe(0);
      expect(fs.readFileSync(path.join(restore2, "docs", "page-3.txt"), "utf8")).toEndWith("one more line\n");
      expect(fs.readFileSync(path.join(restore2, "docs", "page-7.txt"), "utf8")).toBe(`zstd page 7\n`.repeat(2000));
    } finally {
      await server.stop();
    }
  }, 60_000);
});
