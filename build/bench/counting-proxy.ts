// A TCP proxy on 127.0.0.1 that forwards to one target and counts bytes each way: the bench's only measure of bytes sent.
import net from "node:net";
import { FrameTally, type FrameTypeCount } from "./frame-tally.ts";
import { shapedPipe, type LinkShape } from "./link-shaper.ts";

export interface ByteCounts {
  /** TCP payload bytes the client sent towards the server since the last reset. */
  clientToServer: number;
  serverToClient: number;
  /** Connections accepted since the last reset. */
  connections: number;
  /**
   * Turns: how often the server's bytes came after client bytes it had not yet answered, on any
   * connection. Each is a round trip unless the client kept sending meanwhile (pipelining): an upper bound.
   */
  turns: number;
  /** Client→server bytes by HashRelay frame type (frame-tally.ts): meaningful for hashrelay's runs only. */
  clientFrames: Record<string, FrameTypeCount>;
}

export interface CountingProxy {
  readonly port: number;
  /** Zeroes the counters (connections still open keep counting into the new totals). */
  reset(): void;
  read(): ByteCounts;
  /** Resolves once no connection is open, or after timeoutMs, so every byte of a finished run is counted. */
  settle(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * Listens on 127.0.0.1 (port 0 = any free port) and forwards every connection to targetHost:targetPort,
 * through `link` (delay and pace each way) when given.
 */
export function startCountingProxy(
  targetPort: number,
  opts: { targetHost?: string; port?: number; link?: LinkShape } = {},
): Promise<CountingProxy> {
  const counts: ByteCounts = { clientToServer: 0, serverToClient: 0, connections: 0, turns: 0, clientFrames: {} };
  const open = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    counts.connections++;
    open.add(client);
    const upstream = net.connect({ port: targetPort, host: opts.targetHost ?? "127.0.0.1", allowHalfOpen: true });
    let unanswered = false;
    const frames = new FrameTally(counts.clientFrames);
    client.on("data", (d: Buffer) => {
      counts.clientToServer += d.length;
      frames.add(d);
      unanswered = true;
    });
    upstream.on("data", (d: Buffer) => {
      counts.serverToClient += d.length;
      if (unanswered) counts.turns++;
      unanswered = false;
    });
    if (opts.link) {
      shapedPipe(client, upstream, opts.link);
      shapedPipe(upstream, client, opts.link);
    } else {
      client.pipe(upstream);
      upstream.pipe(client);
    }
    // A closed side ends the other once its queued bytes are flushed (the shaper does it after the
    // link's delay); an error tears both down.
    let closed = 0;
    const onClose = (other: net.Socket) => () => {
      if (!opts.link) other.end();
      if (++closed === 2) open.delete(client);
    };
    client.on("close", onClose(upstream));
    upstream.on("close", onClose(client));
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port;
      resolve({
        port,
        reset: () => {
          counts.clientToServer = 0;
          counts.serverToClient = 0;
          counts.connections = 0;
          counts.turns = 0;
          for (const name of Object.keys(counts.clientFrames)) delete counts.clientFrames[name];
        },
        read: () => ({ ...counts, clientFrames: structuredClone(counts.clientFrames) }),
        settle: async (timeoutMs = 5000) => {
          const deadline = Date.now() + timeoutMs;
          while (open.size > 0 && Date.now() < deadline) await Bun.sleep(10);
        },
        close: () =>
          new Promise<void>((done) => {
            for (const s of open) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
    server.once("error", reject);
  });
}

if (import.meta.main) {
  // bun build/bench/counting-proxy.ts TARGET_PORT [LISTEN_PORT]: prints the totals each time a connection closes.
  const target = Number(process.argv[2]);
  if (!Number.isInteger(target) || target <= 0) {
    console.error("usage: bun build/bench/counting-proxy.ts TARGET_PORT [LISTEN_PORT]");
    process.exit(2);
  }
  const proxy = await startCountingProxy(target, { port: Number(process.argv[3] ?? 0) });
  console.log(`listening on 127.0.0.1:${proxy.port}, forwarding to 127.0.0.1:${target}`);
  let last = "";
  setInterval(() => {
    const line = JSON.stringify(proxy.read());
    if (line !== last) console.log((last = line));
  }, 500);
}
