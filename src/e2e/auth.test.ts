// End to end: who may talk to whom. Unknown client, wrong pinned server key, server down: exit codes and log lines.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import {
  freePort,
  keygen,
  makeWorld,
  runBinary,
  runClientOnce,
  startServer,
  tempDir,
  writeClientConfig,
  type ServerProcess,
  type World,
} from "../testing/e2e-harness.ts";

describe("authentication", () => {
  let world: World;
  let server: ServerProcess;

  beforeAll(async () => {
    const data = tempDir("auth-data");
    fs.writeFileSync(path.join(data, "a.txt"), "a");
    world = await makeWorld([data]);
    server = await startServer(world);
  });
  afterAll(async () => {
    await server?.stop();
  });

  test("a client whose key the server does not list gets exit 4, and the server log names the key", async () => {
    const strangerPub = keygen(path.join(world.dir, "stranger.key"));
    writeClientConfig(world, [path.join(world.dir, "nas-never")], { key: "./stranger.key" });
    const { status, report } = runClientOnce(world);
    expect(status).toBe(4);
    expect(report.server).toBe("down");
    await server.waitForLog(`unknown client key ${strangerPub}`);
    expect(fs.existsSync(path.join(world.storage, "web01"))).toBe(false);
  });

  test("a server that is not the pinned one gets exit 4 and nothing is sent", () => {
    const otherPub = keygen(path.join(world.dir, "other-server.key"));
    writeClientConfig(world, [world.dir], { serverKey: otherPub });
    const { status, report, stderr } = runClientOnce(world);
    expect(status).toBe(4);
    expect(report.results.every((r) => r.status === "skipped" && r.bytesSent === 0)).toBe(true);
    expect(stderr).toContain("unauthorized");
  });

  test("server down: exit 3, every source skipped, and the log says 'backup of NAME not performed: server down'", async () => {
    const data = path.join(tempDir("down"), "Mail Archive");
    fs.mkdirSync(data);
    fs.writeFileSync(path.join(data, "b.txt"), "b");
    writeClientConfig(world, [data], { port: await freePort() });
    const { status, report } = runClientOnce(world);
    expect(status).toBe(3);
    expect(report.server).toBe("down");
    expect(report.results[0]!.status).toBe("skipped");
    const logFile = fs.readFileSync(path.join(world.state, "hashrelay.log"), "utf8");
    expect(logFile).toContain("backup of mail-archive not performed: server down (connection refused");
  });
});

describe("a client.name other than the server's name for the key", () => {
  test("archives go under the key's name; the client warns once in its log and in status", async () => {
    const data = tempDir("misnamed");
    fs.writeFileSync(path.join(data, "a.txt"), "a");
    const world = await makeWorld([data], { clientName: "web07" });
    const server = await startServer(world);
    try {
      expect(runClientOnce(world).status).toBe(0);
      expect(runClientOnce(world).status).toBe(0);
      expect(fs.readdirSync(world.storage)).toContain("web01");
      const log = fs.readFileSync(path.join(world.state, "hashrelay.log"), "utf8");
      const warning = 'this client is named "web07" (client.name) but the server lists its key as "web01"';
      expect(log.split(warning).length - 1).toBe(1);
      const status = runBinary(["status", "--config", world.clientConfig]);
      expect(status.stdout).toContain(`Name: ${warning}`);
      const json = JSON.parse(runBinary(["status", "--config", world.clientConfig, "--json"]).stdout);
      expect(json.client.nameMismatch).toEqual({ configured: "web07", server: "web01" });
    } finally {
      await server.stop();
    }
  });
});
