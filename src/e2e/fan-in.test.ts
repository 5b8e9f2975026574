// End to end: a hundred clients started in the same second all back up in that tick; busy is never down.
//
// Cost: 100 client processes at once (~50 MiB each while they wait), about 30-60 s on 2 cores.
import { afterAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { runBinary, startServer, type ServerProcess } from "../testing/e2e-harness.ts";
import { makeFleet, runAllAtOnce, type Fleet } from "../testing/fleet.ts";

const CLIENTS = 100;
const SLOTS = 8;

describe("fan-in", () => {
  let fleet: Fleet;
  let server: ServerProcess | undefined;

  afterAll(async () => {
    await server?.stop();
  });

  test(`${CLIENTS} clients started at once on a server with ${SLOTS} session slots: every one backed up in that tick`, async () => {
    fleet = await makeFleet(CLIENTS, { maxConnections: SLOTS, sourceBytes: 256 * 1024 });
    server = await startServer(fleet.world);
    const runs = await runAllAtOnce(fleet.clients);

    const failed = runs.filter((r) => r.status !== 0 || r.report?.results[0]?.status !== "sent");
    expect(failed.map((r) => `${r.client.name}: exit ${r.status}, ${r.report?.results[0]?.error ?? r.stderr.slice(-300)}`)).toEqual([]);
    for (const { client } of runs) {
      const stored = fs.readdirSync(path.join(fleet.world.storage, client.name)).filter((f) => f.endsWith(".tar.gz"));
      expect(stored).toHaveLength(1);
    }

    // Most waited their turn: told BUSY, and let in later. Nothing was logged as not performed, no Down.
    const logs = runs.map((r) => fs.readFileSync(path.join(r.client.state, "hashrelay.log"), "utf8"));
    const waited = logs.filter((l) => /the server let this client in after \d+ BUSY/.test(l)).length;
    expect(waited).toBeGreaterThan(CLIENTS / 2);
    for (const log of logs) {
      expect(log).not.toContain("not performed");
      expect(log).not.toContain("is Down");
    }
    expect(server.log()).toMatch(/INFO .*refused: busy: server busy: \d+ sessions open; this client is number \d+ of \d+ waiting/);
    // At most 2 summary lines a minute and one first line per address and cause: the busy waits did not flood the log.
    expect(
      server
        .log()
        .split("\n")
        .filter((l) => l.includes("refused")).length,
    ).toBeLessThan(20);
  }, 300_000);

  test("status says Up after such a tick, and a client that got no turn says Busy, never Down", async () => {
    const first = fleet.clients[0]!;
    const up = runBinary(["status", "--config", first.config]);
    expect(up.stdout).toMatch(/Server 127\.0\.0\.1:\d+: Up since/);

    // One slot, held by a session; a client with a 2 s busy window gets no turn.
    const busyFleet = await makeFleet(2, { maxConnections: 1, clientLines: ["  busyWindow: 2s"] });
    const busyServer = await startServer(busyFleet.world);
    try {
      const { authenticatedPeer } = await import("../testing/raw-peer.ts");
      const holder = await authenticatedPeer(busyFleet.port, path.join(busyFleet.dir, "host000", "client.key"), busyFleet.world.serverPub);
      const [late] = await runAllAtOnce([busyFleet.clients[1]!]);
      holder.peer.destroy();
      expect(late!.status).toBe(3);
      expect(late!.report!.results[0]!.error).toStartWith("server busy: busy: server refused the handshake: server busy: 1 sessions open");
      const log = fs.readFileSync(path.join(busyFleet.clients[1]!.state, "hashrelay.log"), "utf8");
      expect(log).toContain("backup of data not performed: server busy (");
      expect(log).toContain("is Busy: busy: ");
      const status = runBinary(["status", "--config", busyFleet.clients[1]!.config]);
      expect(status.stdout).toMatch(/Server 127\.0\.0\.1:\d+: Busy since .* — busy: /);
      expect(status.stdout).not.toContain("Down");
      expect(JSON.parse(runBinary(["status", "--config", busyFleet.clients[1]!.config, "--json"]).stdout).client.server).toBe("busy");
    } finally {
      await busyServer.stop();
    }
  }, 60_000);
});
