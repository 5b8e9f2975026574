// LAN discovery over UDP: the client broadcasts a request and waits for the pinned server's signed answer;
// the server answers on the UDP port equal to its TCP port, at a bounded rate.
import dgram from "node:dgram";
import os from "node:os";
import { randomBytes } from "node:crypto";
import {
  DISCOVERY_NONCE_BYTES,
  decodeDiscoveryRequest,
  encodeDiscoveryAnswer,
  encodeDiscoveryRequest,
  verifyDiscoveryAnswer,
} from "../protocol/discovery.ts";
import type { Identity } from "../protocol/identity.ts";
import type { Logger } from "../io/log.ts";

/** How long a client waits for an answer; requests are sent again twice within it (UDP may drop one). */
export const DISCOVERY_WAIT_MS = 2000;
const SENDS = 3;
/** The responder answers at most this many requests per second; the rest are dropped unanswered. */
export const DISCOVERY_ANSWERS_PER_SECOND = 20;

/** 255.255.255.255 and the IPv4 broadcast address of every up, non-loopback interface. */
export function broadcastTargets(): string[] {
  const targets = new Set<string>(["255.255.255.255"]);
  for (const addresses of Object.values(os.networkInterfaces())) {
    for (const a of addresses ?? []) {
      if (a.family !== "IPv4" || a.internal) continue;
      const ip = ipv4ToInt(a.address);
      const mask = ipv4ToInt(a.netmask);
      if (ip === null || mask === null || mask === 0xffffffff) continue;
      targets.add(intToIpv4((ip | ~mask) >>> 0));
    }
  }
  return [...targets];
}

export interface DiscoveredServer {
  /** The address the answer came from. */
  host: string;
  /** The TCP port the server announced. */
  port: number;
}

/**
 * Asks `targets` (default: broadcastTargets()) on UDP `port` and resolves with the first answer signed by `serverKey`
 * for this request's fresh nonce, or null when none came within `waitMs`. Unreachable targets are skipped. Never throws.
 */
export function discoverServer(opts: {
  port: number;
  serverKey: Uint8Array;
  targets?: string[];
  waitMs?: number;
}): Promise<DiscoveredServer | null> {
  const targets = opts.targets ?? broadcastTargets();
  const waitMs = opts.waitMs ?? DISCOVERY_WAIT_MS;
  const nonce = new Uint8Array(randomBytes(DISCOVERY_NONCE_BYTES));
  const request = encodeDiscoveryRequest(nonce);
  return new Promise((resolve) => {
    const socket = dgram.createSocket({ type: "udp4" });
    const timers: ReturnType<typeof setTimeout>[] = [];
    let done = false;
    const finish = (found: DiscoveredServer | null) => {
      if (done) return;
      done = true;
      for (const t of timers) clearTimeout(t);
      try {
        socket.close();
      } catch {
        // already closed
      }
      resolve(found);
    };
    const sendAll = () => {
      for (const target of targets) socket.send(request, opts.port, target, () => undefined);
    };
    socket.on("error", () => finish(null));
    socket.on("message", (packet, from) => {
      const answer = verifyDiscoveryAnswer(new Uint8Array(packet), nonce, opts.serverKey);
      if (answer) finish({ host: from.address, port: answer.port });
    });
    socket.bind(0, () => {
      socket.setBroadcast(true);
      sendAll();
      for (let i = 1; i < SENDS; i++) timers.push(setTimeout(sendAll, (waitMs * i) / SENDS));
      timers.push(setTimeout(() => finish(null), waitMs));
    });
  });
}

export interface DiscoveryResponder {
  /** The UDP address and port it answers on. */
  address: string;
  port: number;
  close(): Promise<void>;
}

/**
 * Answers discovery requests on UDP `address`:`port` with `identity` and `tcpPort`, at most `answersPerSecond`.
 * A listen address of 0.0.0.0 or :: answers on every IPv4 interface (broadcasts arrive there); another IPv4
 * address answers only unicast requests to it; an IPv6 address gets no responder (null). Resolves null, after a
 * warning, when the port cannot be bound: the server still serves TCP.
 */
export function startDiscoveryResponder(opts: {
  listen: string;
  port: number;
  identity: Identity;
  tcpPort: number;
  log: Logger;
  answersPerSecond?: number;
}): Promise<DiscoveryResponder | null> {
  const { log } = opts;
  const address = opts.listen === "0.0.0.0" || opts.listen === "::" ? "0.0.0.0" : opts.listen;
  if (address.includes(":")) {
    log.log("info", `LAN discovery off: it answers IPv4 broadcasts and the server listens on ${opts.listen}`);
    return Promise.resolve(null);
  }
  const perSecond = opts.answersPerSecond ?? DISCOVERY_ANSWERS_PER_SECOND;
  let windowStart = 0;
  let answered = 0;
  let dropped = 0;
  return new Promise((resolve) => {
    const socket = dgram.createSocket({ type: "udp4" });
    let bound = false;
    socket.on("error", (err) => {
      if (!bound) {
        log.log("warn", `LAN discovery off: cannot bind UDP ${address}:${opts.port}: ${err.message}`);
        resolve(null);
      } else {
        log.log("warn", `LAN discovery: ${err.message}`);
      }
    });
    socket.on("message", (packet, from) => {
      const nonce = decodeDiscoveryRequest(new Uint8Array(packet));
      if (!nonce) return;
      const now = Date.now();
      if (now - windowStart >= 1000) {
        if (dropped > 0) log.log("warn", `LAN discovery: ${dropped} requests dropped (over ${perSecond} answers per second)`);
        windowStart = now;
        answered = 0;
        dropped = 0;
      }
      if (answered >= perSecond) {
        dropped++;
        return;
      }
      answered++;
      socket.send(encodeDiscoveryAnswer(opts.identity, nonce, opts.tcpPort), from.port, from.address, () => undefined);
    });
    socket.bind(opts.port, address, () => {
      bound = true;
      const port = socket.address().port;
      log.log("info", `LAN discovery answers on UDP ${address}:${port}`);
      resolve({
        address,
        port,
        close: () => new Promise<void>((done) => socket.close(() => done())),
      });
    });
  });
}

function ipv4ToInt(text: string): number | null {
  const parts = text.split(".").map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return null;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

function intToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join(".");
}
