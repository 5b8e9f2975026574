// End to end: a running server refuses hostile peers, keeps serving a real client, and writes nothing outside storage.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { FrameType } from "../protocol/constants.ts";
import { decodeControl, decodeErrorFrame } from "../protocol/messages.ts";
import { ClientHandshake, ServerBusy } from "../protocol/handshake.ts";
import { parsePublicKey, parseSecretKeyFile } from "../protocol/identity.ts";
import { authenticatedPeer, RawPeer } from "../testing/raw-peer.ts";
import { listTree, makeWorld, runClientOnce, startServer, tempDir, type ServerProcess, type World } from "../testing/e2e-harness.ts";

describe("abuse of a running server", () => {
  let world: World;
  let server: ServerProcess;
  let outsideBefore: string[];

  /** Everything in the world folder except storage and the client's state: must never change. */
  const outside = () => listTree(world.dir).filter((p) => !p.startsWith("nas/") && !p.startsWith("state/"));

  const expectServedAgain = () => {
    fs.appendFileSync(path.join(world.dir, "..", path.basename(sourceDir), "log.txt"), `tick ${Date.now()}\n`);
    const { status, report } = runClientOnce(world);
    expect(report.results[0]!.error ?? "").toBe("");
    expect(["sent", "unchanged"]).toContain(report.results[0]!.status);
    expect(status).toBe(0);
  };
  let sourceDir: string;
  const clientIdentity = () => parseSecretKeyFile(fs.readFileSync(path.join(world.dir, "client.key"), "utf8"), "client.key");
  const randomBytesOf = (n: number) => new Uint8Array(randomBytes(n));

  beforeAll(async () => {
    sourceDir = tempDir("abuse-src");
    fs.writeFileSync(path.join(sourceDir, "log.txt"), "start\n");
    world = await makeWorld([sourceDir]);
    server = await startServer(world);
    outsideBefore = outside();
  });

  afterAll(async () => {
    expect(server.child.exitCode).toBeNull(); // still serving after everything
    expect(outside()).toEqual(outsideBefore);
    expect(fs.existsSync(path.join(world.dir, "etc"))).toBe(false);
    expect(fs.existsSync(path.join(world.dir, "..", "etc"))).toBe(false);
    await server?.stop();
  });

  test("a 4 GiB length prefix is refused with TOO_LARGE before anything is allocated", async () => {
    const peer = await RawPeer.connect(world.port);
    peer.write(new Uint8Array([0xff, 0xff, 0xff, 0xff, FrameType.HELLO]));
    const frame = await peer.next();
    expect(frame?.type).toBe(FrameType.ERROR);
    expect(decodeErrorFrame(frame!).code).toBe("TOO_LARGE");
    expect(await peer.closedWithin(3000)).toBe(true);
    expect(await server.child.exitCode).toBeNull();
    expectServedAgain();
  });

  test("garbage before the handshake ends the connection with an error frame", async () => {
    const peer = await RawPeer.connect(world.port);
    peer.write(new Uint8Array([0, 0, 0, 3, 0x7e, 1, 2])); // unknown frame type
    const frame = await peer.next();
    expect(frame?.type).toBe(FrameType.ERROR);
    expect(decodeErrorFrame(frame!).code).toBe("BAD_FRAME");
    expect(await peer.closedWithin(3000)).toBe(true);

    const http = await RawPeer.connect(world.port);
    http.write(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: nas\r\n\r\n"));
    expect(await http.closedWithin(3000)).toBe(true);
    expectServedAgain();
  });

  test("a replayed sealed frame ends the session", async () => {
    const { peer, channel } = await authenticatedPeer(world.port, path.join(world.dir, "client.key"), world.serverPub);
    const ping = channel.seal(FrameType.SEALED_CONTROL, new TextEncoder().encode('{"type":"ping","id":7}'));
    peer.send(ping);
    const pong = await peer.next();
    expect(decodeControl(channel.open(pong!))).toMatchObject({ type: "pong", id: 7 });
    peer.send(ping); // the same bytes again
    const answer = await peer.next();
    expect(answer?.type).toBe(FrameType.SEALED_CONTROL);
    expect(decodeControl(channel.open(answer!))).toMatchObject({ type: "error", code: "BAD_FRAME" });
    expect(await peer.closedWithin(3000)).toBe(true);
    await server.waitForLog("replayed, reordered or altered");
    expectServedAgain();
  });

  test("a flipped bit in a sealed frame ends the session", async () => {
    const { peer, channel } = await authenticatedPeer(world.port, path.join(world.dir, "client.key"), world.serverPub);
    const ping = channel.seal(FrameType.SEALED_CONTROL, new TextEncoder().encode('{"type":"ping","id":8}'));
    const body = ping.body.slice();
    body[3]! ^= 0x10;
    peer.send({ type: ping.type, body });
    const answer = await peer.next();
    expect(decodeControl(channel.open(answer!))).toMatchObject({ type: "error", code: "BAD_FRAME" });
    expect(await peer.closedWithin(3000)).toBe(true);
    expectServedAgain();
  });

  test("an offer named ../../etc is refused and nothing is created", async () => {
    const { peer, channel } = await authenticatedPeer(world.port, path.join(world.dir, "client.key"), world.serverPub);
    peer.send(channel.seal(FrameType.SEALED_CONTROL, new TextEncoder().encode('{"type":"offer","name":"../../etc"}')));
    const answer = await peer.next();
    const message = decodeControl(channel.open(answer!));
    expect(message).toMatchObject({ type: "error", code: "BAD_FRAME" });
    expect(await peer.closedWithin(3000)).toBe(true);
    expect(listTree(world.storage).some((p) => p.includes("etc"))).toBe(false);
    expectServedAgain();
  });

  test("a peer without a HELLO is cut after 5 s, one that sent its HELLO but no AUTH after the handshake timeout; the log says which", async () => {
    const silent = await RawPeer.connect(world.port);
    const stalled = await RawPeer.connect(world.port);
    const hello = new ClientHandshake({ identity: clientIdentity(), serverKey: parsePublicKey(world.serverPub)!, random: randomBytesOf });
    stalled.send(hello.start()[0]!);
    const started = Date.now();
    expect(await silent.closedWithin(8_000)).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(4_500);
    // Told BUSY: a client slowed by load tries again; a stranger learns nothing.
    expect(decodeErrorFrame((await silent.next())!)).toMatchObject({
      code: "BUSY",
      message: expect.stringMatching(/; retry after \d+ ms$/),
    });
    expect(stalled.isClosed).toBe(false);
    expect(await stalled.closedWithin(8_000)).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(9_000);
    await server.waitForLog(/refused: hello-timeout: no complete HELLO 5 s after connect/);
    await server.waitForLog(/refused: auth-timeout: /);
  }, 20_000);

  test("one client holds at most 4 sessions: a 5th is told BUSY, not given another slot", async () => {
    const keyFile = path.join(world.dir, "client.key");
    const held: RawPeer[] = [];
    try {
      for (let i = 0; i < 4; i++) held.push((await authenticatedPeer(world.port, keyFile, world.serverPub)).peer);
      const fifth = await authenticatedPeer(world.port, keyFile, world.serverPub).catch((e: unknown) => e);
      expect(fifth).toBeInstanceOf(ServerBusy);
      expect((fifth as ServerBusy).message).toContain("this client already holds 4 sessions");
      expect((fifth as ServerBusy).retryAfterMs).toBeGreaterThan(0);
      await server.waitForLog(/refused: client-limit: /);
    } finally {
      for (const peer of held) peer.destroy();
    }
    expectServedAgain();
  }, 30_000);

  test("300 connections at once: the real client is still served", async () => {
    const flood = await Promise.all(Array.from({ length: 300 }, () => RawPeer.connect(world.port).catch(() => null)));
    try {
      expectServedAgain();
    } finally {
      for (const peer of flood) peer?.destroy();
    }
    expectServedAgain();
  }, 60_000);
});
