// End to end: a server down at a tick is retried with backoff until the scheduled tick; a tick another process records updates STATUS=.
import { expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { startClient, type ClientDaemon } from "../testing/client-daemon.ts";
import { makeWorld, runBinary, runClientOnce, startServer, tempDir, type World } from "../testing/e2e-harness.ts";
import { startNotifyReceiver, type NotifyReceiver } from "../testing/notify-receiver.ts";
import { HHMM } from "../testing/status-time.ts";

const UP_LINE = new RegExp(`^Server: Up since ${HHMM} \\| last tick ${HHMM}: 1 sent \\| next ${HHMM}$`);

/**
 * One source `docs`, no server yet, and the client daemon (every 30m) telling a notify receiver, its
 * first retry `baseMs` after a down tick; `body` runs with them, then everything is stopped.
 */
async function withServerDownAtStart(
  baseMs: number,
  body: (w: { world: World; client: ClientDaemon; notify: NotifyReceiver }) => Promise<void>,
): Promise<void> {
  const data = path.join(tempDir("retry"), "docs");
  fs.mkdirSync(data);
  fs.writeFileSync(path.join(data, "a.txt"), "first\n");
  const world = await makeWorld([data]);
  const notify = await startNotifyReceiver();
  const client = startClient(world, { env: { NOTIFY_SOCKET: notify.socket, HASHRELAY_RETRY_BASE_MS: String(baseMs) } });
  try {
    await body({ world, client, notify });
    expect(await client.stop()).toBe(0);
  } finally {
    await client.stop();
    notify.close();
  }
}

/** What `hashrelay status --json` says of the client. */
function clientStatus(world: World) {
  return JSON.parse(runBinary(["status", "--json", "--config", world.clientConfig]).stdout).client;
}

/** [when logged, retry planned for] of each "tick done: …; retry …" line, in ms. */
function plannedRetries(log: string): [number, number][] {
  return [...log.matchAll(/^(\S+) INFO .*tick done: .*; retry (\S+) \(server down\)/gm)].map((m) => [Date.parse(m[1]!), Date.parse(m[2]!)]);
}

test("the server starts after the client: retries at 1, 2, 4 … × base find it, the schedule stays, STATUS= shows the retry", async () => {
  const baseMs = 300;
  const startedAt = Date.now();
  await withServerDownAtStart(baseMs, async ({ world, client, notify }) => {
    // Nothing listens: the first tick skips, and the line says when the retry comes, before the next tick.
    await notify.waitFor((m) =>
      new RegExp(`^Server: Down since ${HHMM} \\(refused\\) \\| last tick ${HHMM}: 1 skipped \\| retry ${HHMM} \\| next ${HHMM}$`).test(
        m.fields.STATUS ?? "",
      ),
    );
    await client.waitFor(/retrying: the server was down \(retry 2\)/);
    await client.waitFor(/tick done: 1 skipped; retry/, 3);

    // Each delay about doubles the one before (jitter adds at most 10 %).
    const delays = plannedRetries(client.log()).map(([loggedAt, retryAt]) => retryAt - loggedAt);
    expect(delays[0]).toBeGreaterThanOrEqual(baseMs - 20);
    expect(delays[0]).toBeLessThan(baseMs * 1.1 + 50);
    expect(delays[1]! / delays[0]!).toBeGreaterThan(1.6);
    expect(delays[2]! / delays[1]!).toBeGreaterThan(1.6);

    // The server comes up: a retry backs up, long before the scheduled tick 30 minutes on.
    const server = await startServer(world);
    try {
      await client.waitFor(/backup of docs sent/, 1, 30_000);
      const up = await notify.waitFor((m) => UP_LINE.test(m.fields.STATUS ?? ""));
      expect(up.pid).toBe(client.child.pid!);
      expect(fs.readdirSync(path.join(world.storage, "web01"))).toHaveLength(1);

      // Retries did not move the schedule: the next tick is still 30 minutes after the first.
      const status = clientStatus(world);
      expect(status).toMatchObject({ server: "up", nextTickFrom: "daemon", retry: null });
      expect(Date.parse(status.nextTick) - startedAt).toBeGreaterThan(29 * 60_000);
      expect(Date.parse(status.nextTick) - startedAt).toBeLessThan(31 * 60_000);
    } finally {
      await server.stop();
    }
  });
}, 60_000);

test("a client --once by hand while the daemon waits to retry: STATUS= turns Up, the retry is dropped, status says the same", async () => {
  // A first retry 20 minutes on, before the next tick (every 30m): none comes during the test.
  await withServerDownAtStart(20 * 60_000, async ({ world, client, notify }) => {
    await notify.waitFor((m) =>
      new RegExp(`^Server: Down since ${HHMM} \\(refused\\) \\| .* \\| retry ${HHMM} \\| next `).test(m.fields.STATUS ?? ""),
    );
    const down = runBinary(["status", "--config", world.clientConfig]).stdout;
    expect(down).toMatch(/^Server 127\.0\.0\.1:\d+: Down since /m);
    // Shown on the schedule's wall clock, with its zone (the machine's here).
    expect(down).toMatch(/^Retry: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+ \(in (19|20|21|22) min\), as the server was down at the last tick$/m);

    const server = await startServer(world);
    try {
      const once = runClientOnce(world);
      expect(once.status).toBe(0);
      expect(once.report.results).toEqual([expect.objectContaining({ name: "docs", status: "sent" })]);

      // The daemon saw the tick recorded by another process: its line is Up, without the retry.
      const up = await notify.waitFor((m) => UP_LINE.test(m.fields.STATUS ?? ""));
      expect(up.pid).toBe(client.child.pid!);
      await client.waitFor(/found the server Up: no retry needed/);
      const status = clientStatus(world);
      expect(status).toMatchObject({ server: "up", retry: null, nextTickFrom: "daemon", daemon: { running: true, pid: client.child.pid } });
      expect(status.sources[0]).toMatchObject({ name: "docs", status: "sent" });
    } finally {
      await server.stop();
    }
  });
}, 60_000);
