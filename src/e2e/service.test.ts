// End to end as systemd sees the daemons: READY=1, STATUS= kept current, WATCHDOG=1, Up/Down logged once, status with and without the daemon.
import { expect, test } from "bun:test";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { ensureBinary, makeWorld, runBinary, startServer, tempDir } from "../testing/e2e-harness.ts";
import { startNotifyReceiver } from "../testing/notify-receiver.ts";
import { HHMM } from "../testing/status-time.ts";

function count(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

async function until(what: string, check: () => boolean, timeoutMs = 15_000, detail: () => string = () => ""): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${detail()}`);
    await Bun.sleep(50);
  }
}

test("client and server talk to systemd; the client's STATUS= goes Down then Up with the server, each change logged once", async () => {
  const data = path.join(tempDir("service"), "docs");
  fs.mkdirSync(data);
  fs.writeFileSync(path.join(data, "a.txt"), "first\n");
  const world = await makeWorld([data]);
  fs.writeFileSync(
    world.clientConfig,
    fs.readFileSync(world.clientConfig, "utf8").replace('schedule: "every 30m"', 'schedule: "every 1s"'),
  );

  const serverNotify = await startNotifyReceiver({ abstract: true });
  const clientNotify = await startNotifyReceiver();
  let server = await startServer(world, { env: { PATH: "/nonexistent", NOTIFY_SOCKET: serverNotify.socket, WATCHDOG_USEC: "2000000" } });
  let client: ChildProcess | null = null;
  try {
    // Server: READY=1 once listening, with the line systemctl shows.
    const serverReady = await serverNotify.waitFor((m) => m.fields.READY === "1");
    expect(serverReady.fields.STATUS).toMatch(/^Serving 1 client \| no archive yet \| [\d.]+ [KMGTP]iB free$/);
    expect(serverReady.pid).toBe(server.child.pid!);
    await serverNotify.waitFor((m) => m.text === "WATCHDOG=1" && m.pid === server.child.pid);

    client = spawn(ensureBinary(), ["client", "--config", world.clientConfig], {
      stdio: ["ignore", "ignore", "pipe"],
      // No PATH: systemd-notify cannot be found, so what arrives came through libc from the compiled binary itself.
      env: { ...process.env, PATH: "/nonexistent", NOTIFY_SOCKET: clientNotify.socket, WATCHDOG_USEC: "1000000" },
    });
    let clientErr = "";
    client.stderr!.on("data", (d: Buffer) => (clientErr += d.toString()));
    const detail = () => `client stderr:\n${clientErr}\nnotify:\n${clientNotify.messages.map((m) => m.text).join("\n")}`;

    const ready = await clientNotify.waitFor((m) => m.fields.READY === "1");
    expect(ready.pid).toBe(client.pid!);
    const up = await clientNotify.waitFor((m) =>
      new RegExp(`^Server: Up since ${HHMM} \\| last tick ${HHMM}: 1 sent \\| next ${HHMM}$`).test(m.fields.STATUS ?? ""),
    );
    expect(up.pid).toBe(client.pid!);
    await clientNotify.waitFor((m) => m.text === "WATCHDOG=1" && m.pid === client!.pid);
    await serverNotify.waitFor((m) =>
      new RegExp(`^Serving 1 client( \\(1 connected\\))? \\| last archive ${HHMM} web01/docs \\| `).test(m.fields.STATUS ?? ""),
    );

    // status while the daemon runs: it reads what the daemon keeps.
    const running = JSON.parse(runBinary(["status", "--json", "--config", world.clientConfig]).stdout);
    expect(running.client.server).toBe("up");
    expect(running.client.daemon).toMatchObject({ running: true, pid: client.pid, configCurrent: true });
    expect(["daemon", "running"]).toContain(running.client.nextTickFrom);
    expect(running.client.sources[0]).toMatchObject({
      name: "docs",
      lastSuccess: { file: expect.stringMatching(/^backup-docs-.*\.tar\.gz$/) },
    });
    const serverView = JSON.parse(runBinary(["status", "--json", "--config", world.serverConfig]).stdout);
    expect(serverView.server.daemon).toMatchObject({ running: true, pid: server.child.pid });
    expect(serverView.server.clients[0]).toMatchObject({
      name: "web01",
      from: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
      archives: [{ name: "docs", kept: 1 }],
    });
    expect(serverView.server.clients[0].sessions).toBeGreaterThanOrEqual(1);

    // The server stops: STOPPING=1 there; the client's next tick finds it Down, skips and says so.
    await server.stop();
    await serverNotify.waitFor((m) => m.fields.STOPPING === "1");
    const downStatus = await clientNotify.waitFor(
      (m) =>
        new RegExp(`^Server: Down since ${HHMM} \\(refused\\) \\| last tick ${HHMM}: 1 skipped \\| next ${HHMM}$`).test(
          m.fields.STATUS ?? "",
        ),
      15_000,
    );
    const logFile = path.join(world.state, "hashrelay.log");
    await until(
      "three skipped ticks",
      () => count(fs.readFileSync(logFile, "utf8"), "backup of docs not performed: server down (connection refused") >= 3,
      15_000,
      detail,
    );
    const downLog = fs.readFileSync(logFile, "utf8");
    expect(count(downLog, " is Down: connection refused")).toBe(1);
    expect(count(downLog, " is Up")).toBe(1);
    const down = JSON.parse(runBinary(["status", "--json", "--config", world.clientConfig]).stdout);
    expect(down.client).toMatchObject({ server: "down", kind: "refused", reason: expect.stringContaining("connection refused") });
    expect(Date.parse(down.client.since)).toBeLessThan(Date.parse(down.client.lastTick));

    // Back Up on the same port: one more transition line, and STATUS= says Up again.
    server = await startServer(world);
    await until("the server Up again", () => count(fs.readFileSync(logFile, "utf8"), " is Up") === 2, 15_000, detail);
    // An Up sent after the Down: any Up from before it (each tick sends one) would match at once.
    const afterDown = (m: (typeof clientNotify.messages)[number]) =>
      clientNotify.messages.indexOf(m) > clientNotify.messages.indexOf(downStatus);
    await clientNotify.waitFor((m) => /^Server: Up since/.test(m.fields.STATUS ?? "") && afterDown(m));
    expect(count(fs.readFileSync(logFile, "utf8"), " is Down")).toBe(1);

    client.kill("SIGTERM");
    const code = await new Promise<number | null>((resolve) => client!.once("exit", (c) => resolve(c)));
    expect(code).toBe(0);
    await clientNotify.waitFor((m) => m.fields.STOPPING === "1");
    client = null;
    // status after the daemon is gone: still the last facts, and the daemon reported as not running.
    const after = runBinary(["status", "--config", world.clientConfig]);
    expect(after.status).toBe(0);
    expect(after.stdout).toContain("Daemon: not running");
    expect(after.stdout).toMatch(/Server 127\.0\.0\.1:\d+: Up since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d/);
    expect(after.stdout).toMatch(/Next tick: .* by the schedule, schedule every 1s/);
  } finally {
    client?.kill("SIGKILL");
    await server.stop();
    serverNotify.close();
    clientNotify.close();
  }
}, 60_000);
