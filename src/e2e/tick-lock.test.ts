// End to end: one tick at a time per state folder. A client --once or the daemon waits while another process holds the lock.
import { expect, test } from "bun:test";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { tryLockFolder } from "../io/folder-lock.ts";
import { startClient } from "../testing/client-daemon.ts";
import { startMuteServer } from "../testing/mute-server.ts";
import { ensureBinary, makeWorld, runBinary, startServer, tempDir, writeClientConfig } from "../testing/e2e-harness.ts";

/** Resolves once `done()` is true; rejects after timeoutMs with `detail()`. */
async function until(done: () => boolean, detail: () => string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out:\n${detail()}`);
    await Bun.sleep(25);
  }
}

test("client --once waits for the lock another process holds, then ticks; so does the daemon; backup-now goes through", async () => {
  const data = path.join(tempDir("lock"), "docs");
  fs.mkdirSync(data);
  fs.writeFileSync(path.join(data, "a.txt"), "first\n");
  const world = await makeWorld([data]);
  fs.mkdirSync(world.state, { mode: 0o700 });
  const server = await startServer(world);
  const statusFile = path.join(world.state, "status.json");
  // This test process stands for a tick in flight: it holds the state folder's lock.
  let held = tryLockFolder(world.state)!;
  expect(held).not.toBeNull();
  const client = startClient(world);
  try {
    const once = spawn(ensureBinary(), ["client", "--once", "--json", "--config", world.clientConfig], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    once.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    once.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    const onceExit = new Promise<number | null>((resolve) => once.once("exit", resolve));
    const waiting = new RegExp(`another tick runs on ${world.state} \\(pid ${process.pid}\\): waiting for it to end`);
    await until(
      () => waiting.test(err) || once.exitCode !== null,
      () => err,
    );
    expect(err).toMatch(waiting);
    await client.waitFor(waiting);
    // Neither has ticked: nothing recorded, nothing sent.
    expect(fs.existsSync(statusFile)).toBe(false);
    expect(once.exitCode).toBeNull();
    expect(client.count(/backup of docs/)).toBe(0);

    held.release();
    // Both tick, one after the other: one sends, the other finds the source unchanged.
    expect(await onceExit).toBe(0);
    await client.waitFor(/tick done: /);
    const sent = JSON.parse(out).results[0].status === "sent" ? 1 : 0;
    expect(sent + client.count(/backup of docs sent/)).toBe(1);
    expect(fs.readdirSync(path.join(world.storage, "web01"))).toHaveLength(1);

    // The daemon takes the lock for its own ticks only: backup-now, which asks it, never waits on itself.
    const now = runBinary(["backup-now", "--json", "--config", world.clientConfig]);
    expect(now.status).toBe(0);
    expect(JSON.parse(now.stdout).results).toEqual([expect.objectContaining({ name: "docs", status: "unchanged" })]);
  } finally {
    held.release();
    await client.stop();
    await server.stop();
  }
}, 60_000);

test("a hand run while the daemon's tick is in flight names the daemon as the holder", async () => {
  const data = path.join(tempDir("lock"), "docs");
  fs.mkdirSync(data);
  const world = await makeWorld([data]);
  // A port that accepts and never answers: the daemon's tick waits out the handshake timeout, holding the lock.
  const mute = await startMuteServer();
  writeClientConfig(world, [data], { port: mute.port });
  const client = startClient(world);
  let once: ChildProcess | null = null;
  try {
    await mute.connections(1);
    // The daemon's tick is connected, so it holds the lock: a hand run now has to wait.
    once = spawn(ensureBinary(), ["client", "--once", "--config", world.clientConfig], { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    once.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    await until(
      () => new RegExp(`another tick runs on .* \\(pid ${client.child.pid}, the client daemon\\): waiting for it to end`).test(err),
      () => err,
    );
    expect(mute.sockets).toHaveLength(1);
  } finally {
    once?.kill("SIGKILL");
    client.child.kill("SIGKILL");
    mute.close();
  }
}, 30_000);
