// End to end: kill -9 of the server mid-transfer and at commit never leaves a partial file under a final name.
import { describe, expect, test } from "bun:test";
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
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

function sizeUnder(dir: string): number {
  return listTree(dir)
    .filter((p) => !p.endsWith("/"))
    .reduce((sum, p) => sum + fs.statSync(path.join(dir, p)).size, 0);
}

/** Starts a client tick in the background, kills the server with SIGKILL once `ready()` holds, returns the client's exit. */
async function killServerWhen(world: World, server: ServerProcess, ready: () => boolean): Promise<number | null> {
  const client = spawn(ensureBinary(), ["client", "--once", "--json", "--config", world.clientConfig], { stdio: "ignore" });
  const exited = new Promise<number | null>((resolve) => client.once("exit", (code) => resolve(code)));
  const deadline = Date.now() + 60_000;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error("the transfer never reached the kill point");
    if (client.exitCode !== null) throw new Error(`client finished before the kill point (exit ${client.exitCode})`);
    await Bun.sleep(5);
  }
  await server.stop("SIGKILL");
  return exited;
}

function expectOnlyIntact(world: World, file: string, sha256: string): void {
  expect(fs.readdirSync(path.join(world.storage, "web01"))).toEqual([file]);
  const archive = path.join(world.storage, "web01", file);
  expect(spawnSync("gzip", ["-t", archive]).status).toBe(0);
  expect(new Bun.CryptoHasher("sha256").update(fs.readFileSync(archive)).digest("hex")).toBe(sha256);
}

describe("crash safety", () => {
  test("kill -9 while receiving, then at commit (the client waiting for its receipt): the previous archive stays intact, no partial final name", async () => {
    const data = tempDir("crash-src");
    fs.writeFileSync(path.join(data, "small.txt"), "the previous version\n");
    const world = await makeWorld([data]);
    let server = await startServer(world);
    const first = runClientOnce(world);
    expect(first.status).toBe(0);
    const previous = first.report.results[0]!.archive!;
    const previousSha = new Bun.CryptoHasher("sha256").update(fs.readFileSync(path.join(world.storage, "web01", previous))).digest("hex");
    // What the client remembers of the last stored archive (record, source index folder): a failed tick must not touch it.
    const sources = path.join(world.state, "sources");
    const remembered = () =>
      Object.fromEntries(
        (fs.readdirSync(sources, { recursive: true }) as string[])
          .filter((name) => fs.statSync(path.join(sources, name)).isFile())
          .sort()
          .map((name) => [name, Bun.hash(fs.readFileSync(path.join(sources, name))).toString()]),
      );
    const indexFolders = () => fs.readdirSync(sources).filter((name) => name.endsWith(".index"));
    const rememberedBefore = remembered();
    expect(indexFolders()).toHaveLength(1);

    // 160 MiB of incompressible data: a transfer that takes seconds
    const big = path.join(data, "big.bin");
    const fd = fs.openSync(big, "w");
    for (let i = 0; i < 160; i++) fs.writeSync(fd, randomBytes(1024 * 1024));
    fs.closeSync(fd);

    const staging = path.join(world.storage, ".hashrelay", "staging");
    const code = await killServerWhen(world, server, () => sizeUnder(staging) > 32 * 1024 * 1024);
    expect(code).not.toBe(0);
    expectOnlyIntact(world, previous, previousSha);

    server = await startServer(world);
    const tmp = path.join(world.storage, ".hashrelay", "tmp");
    expect(listTree(tmp)).toEqual([]); // leftovers cleaned at start
    // The server writes the new archive ahead while chunks arrive; the kill waits for commit: the client
    // sent it once its new source index is complete beside the current one (named by its record only after the receipt).
    const code2 = await killServerWhen(
      world,
      server,
      () =>
        sizeUnder(tmp) > 0 && indexFolders().some((name) => fs.existsSync(path.join(sources, name, "ids"))) && indexFolders().length > 1,
    );
    expect(code2).not.toBe(0);
    expectOnlyIntact(world, previous, previousSha);
    // the client was writing the new source index while it waited for the receipt: the record still names the old one, the new one is gone
    expect(remembered()).toEqual(rememberedBefore);

    server = await startServer(world);
    const last = runClientOnce(world);
    expect(last.status).toBe(0);
    const stored = last.report.results[0]!;
    expect(stored.status).toBe("sent");
    expect(fs.readdirSync(path.join(world.storage, "web01"))).toEqual([stored.archive!]);
    expect(fs.readdirSync(path.join(world.storage, ".trash", "web01"))).toContain(previous);
    const restore = tempDir("crash-restore");
    expect(spawnSync("tar", ["-xzf", path.join(world.storage, "web01", stored.archive!), "-C", restore]).status).toBe(0);
    const restored = path.join(restore, path.basename(data), "big.bin");
    expect(Bun.hash(fs.readFileSync(restored))).toBe(Bun.hash(fs.readFileSync(big)));
    await server.stop();
  }, 180_000);
});
