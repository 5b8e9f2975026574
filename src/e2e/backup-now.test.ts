// End to end: `hashrelay backup-now` has the running client daemon tick now and prints that tick's result, as client --once does.
import { expect, test } from "bun:test";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { startClient } from "../testing/client-daemon.ts";
import { startMuteServer } from "../testing/mute-server.ts";
import { ensureBinary, makeWorld, runBinary, startServer, tempDir, writeClientConfig, type ServerProcess } from "../testing/e2e-harness.ts";

test("backup-now: the daemon's next tick, in JSON or lines, with --once's exit codes; without a daemon, a hint", async () => {
  const data = path.join(tempDir("now"), "docs");
  fs.mkdirSync(data);
  fs.writeFileSync(path.join(data, "a.txt"), "first\n");
  const world = await makeWorld([data]);
  const args = ["--config", world.clientConfig];

  // No daemon yet: it says so, and how to get one or do without.
  const none = runBinary(["backup-now", ...args]);
  expect(none.status).toBe(2);
  expect(none.stderr).toContain("no client daemon runs for the state folder");
  expect(none.stderr).toContain("systemctl start HashRelay.client");
  expect(none.stderr).toContain("hashrelay client --once");

  let server: ServerProcess | null = await startServer(world);
  // every 30m: after the first tick at start, nothing but backup-now makes it tick.
  const client = startClient(world);
  try {
    await client.waitFor(/tick done: 1 sent/);
    fs.writeFileSync(path.join(data, "a.txt"), "second\n");
    const json = runBinary(["backup-now", "--json", ...args]);
    expect(json.status).toBe(0);
    expect(json.stderr).toContain(`asked the client daemon (pid ${client.child.pid}) for a tick; waiting for its result`);
    const report = JSON.parse(json.stdout);
    expect(report.server).toBe("up");
    expect(report.results).toEqual([expect.objectContaining({ name: "docs", status: "sent", chunksSent: 1 })]);
    // The daemon ran it, on a request: its log says so, and the record is its own.
    await client.waitFor(/a tick was asked for \(SIGUSR1, hashrelay backup-now\)/);
    const record = JSON.parse(fs.readFileSync(path.join(world.state, "status.json"), "utf8"));
    expect(record).toMatchObject({ pid: client.child.pid, exitCode: 0 });
    expect(fs.readdirSync(path.join(world.storage, "web01"))).toHaveLength(1);

    const lines = runBinary(["backup-now", ...args]);
    expect(lines.status).toBe(0);
    expect(lines.stdout).toMatch(/^server up\n {2}docs +unchanged +backup-docs-\S+\.tar\.gz {2}0\/1 chunks sent, 0 B\n$/);

    // The server stops: the daemon's tick is skipped, and backup-now exits 3 as --once would.
    await server.stop();
    server = null;
    const down = runBinary(["backup-now", "--json", ...args]);
    expect(down.status).toBe(3);
    expect(JSON.parse(down.stdout)).toMatchObject({ server: "down", results: [{ name: "docs", status: "skipped" }] });
    await client.waitFor(/a tick was asked for/, 3);
    expect(client.count(/a tick was asked for/)).toBe(3);

    expect(await client.stop()).toBe(0);
    const stopped = runBinary(["backup-now", ...args]);
    expect(stopped.status).toBe(2);
    expect(stopped.stderr).toContain("no client daemon runs");
  } finally {
    await client.stop();
    await server?.stop();
  }
}, 60_000);

test("a tick in flight when backup-now asks is not its tick: it waits for the one the daemon starts after", async () => {
  const root = tempDir("now");
  const [docs, www] = [path.join(root, "docs"), path.join(root, "www")];
  for (const dir of [docs, www]) fs.mkdirSync(dir);
  const world = await makeWorld([docs]);
  // A port that accepts and never answers: each tick stays in flight until the test closes its connection.
  const mute = await startMuteServer();
  writeClientConfig(world, [docs], { port: mute.port });
  const client = startClient(world);
  try {
    await mute.connections(1);
    // The next tick runs on a config with a second source; the tick in flight keeps its one.
    writeClientConfig(world, [docs, www], { port: mute.port });
    await client.waitFor(/config applied \(file changed\)/);
    const now = spawn(ensureBinary(), ["backup-now", "--json", "--config", world.clientConfig], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    now.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    now.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => now.once("exit", resolve));
    while (!err.includes("asked the client daemon")) await Bun.sleep(20);
    mute.sockets[0]!.destroy(); // the tick in flight ends (closed) and is recorded: one source skipped
    await mute.connections(2); // the asked-for tick
    mute.sockets[1]!.destroy();
    expect(await exited).toBe(3);
    expect(JSON.parse(out)).toMatchObject({
      server: "down",
      results: [
        { name: "docs", status: "skipped" },
        { name: "www", status: "skipped" },
      ],
    });
  } finally {
    client.child.kill("SIGKILL");
    mute.close();
  }
}, 60_000);

test("hashrelay help backup-now documents it", () => {
  const help = runBinary(["help", "backup-now"]);
  expect(help.status).toBe(0);
  expect(help.stdout).toContain("hashrelay backup-now [--config FILE] [--json]");
  expect(runBinary(["--help"]).stdout).toContain("backup-now");
});
