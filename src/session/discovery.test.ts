// LAN discovery over real UDP sockets on loopback (the broadcast itself is tested across a veth pair by
// dependencies/contact-ip/test/discovery-netns.bats).
import { afterEach, describe, expect, test } from "bun:test";
import dgram from "node:dgram";
import { randomBytes } from "node:crypto";
import { encodeDiscoveryRequest } from "../protocol/discovery.ts";
import { identityFor } from "../protocol/test-fixtures.ts";
import { broadcastTargets, discoverServer, startDiscoveryResponder, type DiscoveryResponder } from "./discovery.ts";
import type { Logger } from "../io/log.ts";

const server = identityFor("server");
const impostor = identityFor("impostor");
const lines: string[] = [];
const log: Logger = { log: (level, message) => void lines.push(`${level} ${message}`) };
const open: DiscoveryResponder[] = [];

async function responder(
  identity = server,
  opts: { tcpPort?: number; answersPerSecond?: number; port?: number } = {},
): Promise<DiscoveryResponder> {
  const r = await startDiscoveryResponder({
    listen: "127.0.0.1",
    port: opts.port ?? 0,
    identity,
    tcpPort: opts.tcpPort ?? 7373,
    log,
    answersPerSecond: opts.answersPerSecond,
  });
  if (!r) throw new Error(`responder did not start: ${lines.join("; ")}`);
  open.push(r);
  return r;
}

afterEach(async () => {
  for (const r of open.splice(0)) await r.close();
  lines.length = 0;
});

describe("discoverServer", () => {
  test("finds the pinned server: its address and the TCP port it announces", async () => {
    const r = await responder(server, { tcpPort: 40123 });
    const found = await discoverServer({ port: r.port, serverKey: server.publicKey, targets: ["127.0.0.1"], waitMs: 1500 });
    expect(found).toEqual({ host: "127.0.0.1", port: 40123 });
  });

  test("ignores a server with another key and gives up after the wait", async () => {
    const r = await responder(impostor);
    const started = Date.now();
    const found = await discoverServer({ port: r.port, serverKey: server.publicKey, targets: ["127.0.0.1"], waitMs: 600 });
    expect(found).toBeNull();
    expect(Date.now() - started).toBeGreaterThanOrEqual(550);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  test("nobody listening: null, no throw", async () => {
    const found = await discoverServer({ port: 9, serverKey: server.publicKey, targets: ["127.0.0.1"], waitMs: 300 });
    expect(found).toBeNull();
  });

  test("broadcast targets always include 255.255.255.255 and never a loopback address", () => {
    const targets = broadcastTargets();
    expect(targets).toContain("255.255.255.255");
    expect(targets.some((t) => t.startsWith("127."))).toBe(false);
  });
});

describe("responder", () => {
  /**
   * Sends `count` requests (or `packet`) from one socket and counts the datagrams that come back: it waits
   * for `expected` of them (however long a loaded machine takes), then 300 ms more for any beyond.
   */
  async function answersTo(port: number, count: number, expected: number, packet?: Uint8Array): Promise<number> {
    const socket = dgram.createSocket("udp4");
    let answers = 0;
    let enough: () => void = () => undefined;
    const arrived = new Promise<void>((resolve) => (enough = resolve));
    socket.on("message", () => ++answers >= expected && enough());
    if (expected === 0) enough();
    await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", () => resolve()));
    for (let i = 0; i < count; i++) socket.send(packet ?? encodeDiscoveryRequest(new Uint8Array(randomBytes(32))), port, "127.0.0.1");
    await arrived;
    await Bun.sleep(300);
    socket.close();
    return answers;
  }

  test("answers at most answersPerSecond requests in a second and logs the drops", async () => {
    const r = await responder(server, { answersPerSecond: 3 });
    expect(await answersTo(r.port, 10, 3)).toBe(3);
    await Bun.sleep(700); // with the 300 ms above, a second has passed: a new window
    expect(await answersTo(r.port, 1, 1)).toBe(1);
    expect(lines.some((l) => l.includes("7 requests dropped"))).toBe(true);
  });

  test("stays silent on datagrams that are not requests", async () => {
    const r = await responder();
    expect(await answersTo(r.port, 1, 0, new Uint8Array(136))).toBe(0);
    expect(await answersTo(r.port, 1, 0, new TextEncoder().encode("hello"))).toBe(0);
  });

  test("a port already taken turns discovery off with a warning instead of failing", async () => {
    const r = await responder();
    const second = await startDiscoveryResponder({ listen: "127.0.0.1", port: r.port, identity: server, tcpPort: 7373, log });
    expect(second).toBeNull();
    expect(lines.some((l) => l.startsWith("warn LAN discovery off: cannot bind"))).toBe(true);
  });

  test("an IPv6 listen address gets no responder", async () => {
    expect(await startDiscoveryResponder({ listen: "::1", port: 0, identity: server, tcpPort: 7373, log })).toBeNull();
  });
});
