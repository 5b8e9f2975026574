// End to end: the server applies config edits live: port moves, clients removed and added, a listener that cannot be bound.
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { FrameType } from "../protocol/constants.ts";
import { decodeControl } from "../protocol/messages.ts";
import type { SealedChannel } from "../protocol/sealed-channel.ts";
import { startClient } from "../testing/client-daemon.ts";
import { authenticatedPeer, type RawPeer } from "../testing/raw-peer.ts";
import {
  freePort,
  keygen,
  makeWorld,
  runBinary,
  runClientOnce,
  startServer,
  tempDir,
  writeServerConfig,
  type World,
} from "../testing/e2e-harness.ts";

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/** Sends a sealed ping on a raw session and returns the server's answer. */
async function ping(peer: RawPeer, channel: SealedChannel, id: number) {
  peer.send(channel.seal(FrameType.SEALED_CONTROL, new TextEncoder().encode(JSON.stringify({ type: "ping", id }))));
  const frame = await peer.next(5000);
  if (!frame) return null;
  return decodeControl(channel.open(frame));
}

function setPort(file: string, port: number): void {
  fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace(/^port: \d+$/m, `port: ${port}`));
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

async function worldWithData(): Promise<World> {
  const data = path.join(tempDir("srv-data"), "docs");
  fs.mkdirSync(data);
  fs.writeFileSync(path.join(data, "a.txt"), "hello\n");
  return makeWorld([data]);
}

describe("server daemon, live config", () => {
  test("port changed under a connected client: its session finishes on the old port, the next tick reaches the new one", async () => {
    const world = await worldWithData();
    fs.writeFileSync(
      world.clientConfig,
      fs.readFileSync(world.clientConfig, "utf8").replace('schedule: "every 30m"', 'schedule: "every 2s"'),
    );
    const server = await startServer(world);
    const client = startClient(world);
    try {
      await client.waitFor(/tick done: 1 sent/);
      const oldPort = world.port;
      const { peer, channel } = await authenticatedPeer(oldPort, path.join(world.dir, "client.key"), world.serverPub);
      expect(await ping(peer, channel, 1)).toMatchObject({ type: "pong", id: 1 });

      const newPort = await freePort();
      setPort(world.serverConfig, newPort);
      await server.waitForLog(`listening on 127.0.0.1:${newPort}`);
      await server.waitForLog(`stopped listening on 127.0.0.1:${oldPort}; sessions opened there finish on it`);
      // The open session goes on undisturbed and ends when the client says so.
      expect(await ping(peer, channel, 2)).toMatchObject({ type: "pong", id: 2 });
      peer.send(channel.seal(FrameType.SEALED_CONTROL, new TextEncoder().encode('{"type":"bye"}')));
      expect(await peer.closedWithin(3000)).toBe(true);
      expect(await canConnect(oldPort)).toBe(false);

      // The running client, still on the old port, finds the server down; once its config follows
      // (the fleet's next merge), its next tick reaches the new port, in the same process.
      await client.waitFor(
        new RegExp(`backup of docs not performed: server down \\(connection refused \\(127\\.0\\.0\\.1:${oldPort}\\)\\)`),
      );
      const pid = client.child.pid;
      setPort(world.clientConfig, newPort);
      await client.waitFor(new RegExp(`client\\.server: 127\\.0\\.0\\.1:${oldPort} → 127\\.0\\.0\\.1:${newPort}`));
      await client.waitFor(new RegExp(`server 127\\.0\\.0\\.1:${newPort} is Up`));
      await client.waitFor(/tick done: 1 unchanged/);
      expect(client.child.pid).toBe(pid!);
      expect(server.child.exitCode).toBeNull();
    } finally {
      expect(await client.stop()).toBe(0);
      await server.stop();
    }
  }, 30_000);

  test("a new port that cannot be bound: the old listener stays, the log and status say why", async () => {
    const world = await worldWithData();
    const server = await startServer(world);
    const squatter = net.createServer().listen(0, "127.0.0.1");
    await new Promise((resolve) => squatter.once("listening", resolve));
    const taken = (squatter.address() as net.AddressInfo).port;
    try {
      const good = fs.readFileSync(world.serverConfig, "utf8");
      setPort(world.serverConfig, taken);
      await server.waitForLog(`config not applied (file changed): server refused the new config: cannot listen on 127.0.0.1:${taken}`);
      expect(server.log()).toContain(`still listening on 127.0.0.1:${world.port}`);
      expect(runClientOnce(world).status).toBe(0);
      const status = JSON.parse(runBinary(["status", "--json", "--config", world.serverConfig]).stdout) as {
        server: { configInForce: { hash: string }; configOnDiskInForce: boolean; lastReloadError: { message: string } };
      };
      expect(status.server.configInForce.hash).toBe(sha256(good));
      expect(status.server.configOnDiskInForce).toBe(false);
      expect(status.server.lastReloadError.message).toContain(`cannot listen on 127.0.0.1:${taken}`);

      // Once the port is free, SIGHUP applies the same file again.
      await new Promise((resolve) => squatter.close(resolve));
      server.child.kill("SIGHUP");
      await server.waitForLog(`listening on 127.0.0.1:${taken}`);
      await server.waitForLog("config applied (SIGHUP)");
      const after = JSON.parse(runBinary(["status", "--json", "--config", world.serverConfig]).stdout) as {
        server: { configOnDiskInForce: boolean; lastReloadError: unknown };
      };
      expect(after.server).toMatchObject({ configOnDiskInForce: true, lastReloadError: null });
    } finally {
      squatter.close();
      await server.stop();
    }
  }, 30_000);

  test("a client removed while its session is open: the session ends with UNAUTHORIZED, its archives remain; added back, it connects at once", async () => {
    const world = await worldWithData();
    const server = await startServer(world);
    try {
      expect(runClientOnce(world).status).toBe(0);
      const archives = fs.readdirSync(path.join(world.storage, "web01"));
      expect(archives).toHaveLength(1);
      // Attestation: the server recorded the client's config hash.
      const clientHash = sha256(fs.readFileSync(world.clientConfig, "utf8"));
      await server.waitForLog(`client runs config sha256 ${clientHash} (first report)`);
      const seen = JSON.parse(runBinary(["status", "--json", "--config", world.serverConfig]).stdout) as {
        server: { clientConfigs: Record<string, { hash: string }> };
      };
      expect(seen.server.clientConfigs.web01!.hash).toBe(clientHash);

      const { peer, channel } = await authenticatedPeer(world.port, path.join(world.dir, "client.key"), world.serverPub);
      expect(await ping(peer, channel, 1)).toMatchObject({ type: "pong" });
      const otherKey = keygen(path.join(world.dir, "other.key"));
      writeServerConfig(world, [{ name: "db01", key: otherKey }]);
      const frame = await peer.next(5000);
      expect(frame?.type).toBe(FrameType.SEALED_CONTROL);
      expect(decodeControl(channel.open(frame!))).toEqual({ type: "error", code: "UNAUTHORIZED", message: "unauthorized" });
      expect(await peer.closedWithin(3000)).toBe(true);
      await server.waitForLog("session ended: the client was removed from server.clients");
      expect(server.log()).toContain("server.clients: removed web01; its open sessions end, its archives stay");
      expect(fs.readdirSync(path.join(world.storage, "web01"))).toEqual(archives);
      expect(runClientOnce(world).status).toBe(4);

      writeServerConfig(world, [
        { name: "db01", key: otherKey },
        { name: "web01", key: world.clientPub },
      ]);
      await server.waitForLog("server.clients: added web01");
      const back = runClientOnce(world);
      expect(back.status).toBe(0);
      expect(back.report.results[0]!.status).toBe("unchanged");
    } finally {
      await server.stop();
    }
  }, 30_000);
});
