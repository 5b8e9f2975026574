// End to end: the client daemon ticks on its schedule and stops cleanly on SIGTERM.
import { expect, test } from "bun:test";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { ensureBinary, makeWorld, startServer, tempDir } from "../testing/e2e-harness.ts";

test("a client on 'every 1s' backs up at each tick, picks up a change, and exits 0 on SIGTERM", async () => {
  const data = path.join(tempDir("daemon"), "docs");
  fs.mkdirSync(data);
  fs.writeFileSync(path.join(data, "a.txt"), "first\n");
  const world = await makeWorld([data]);
  fs.writeFileSync(
    world.clientConfig,
    fs.readFileSync(world.clientConfig, "utf8").replace('schedule: "every 30m"', 'schedule: "every 1s"'),
  );
  const server = await startServer(world);
  const client = spawn(ensureBinary(), ["client", "--config", world.clientConfig], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  client.stderr!.on("data", (d: Buffer) => (log += d.toString()));
  const waitFor = async (re: RegExp, count: number) => {
    const deadline = Date.now() + 15_000;
    while ((log.match(new RegExp(re, "g")) ?? []).length < count) {
      if (Date.now() > deadline) throw new Error(`never saw ${count} x ${re}:\n${log}`);
      await Bun.sleep(50);
    }
  };
  try {
    await waitFor(/backup of docs sent/, 1);
    await waitFor(/backup of docs unchanged/, 1);
    fs.writeFileSync(path.join(data, "a.txt"), "second\n");
    await waitFor(/backup of docs sent/, 2);
    expect(fs.readdirSync(path.join(world.storage, "web01"))).toHaveLength(1);
    expect(fs.readdirSync(path.join(world.storage, ".trash", "web01")).filter((f) => f.endsWith(".tar.gz"))).toHaveLength(1);
  } finally {
    client.kill("SIGTERM");
  }
  const code = await new Promise<number | null>((resolve) => client.once("exit", (c) => resolve(c)));
  expect(code).toBe(0);
  await server.stop();
}, 30_000);
