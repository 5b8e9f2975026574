import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import net from "node:net";
import { startCountingProxy } from "./counting-proxy.ts";

/** A server that reads until the client half-closes, then answers `reply` bytes and closes. */
function replyAfterEnd(reply: number): Promise<net.Server> {
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.on("data", () => {});
    socket.on("end", () => socket.end(Buffer.alloc(reply, 7)));
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

function exchange(port: number, send: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    let got = 0;
    const socket = net.connect({ port, host: "127.0.0.1", allowHalfOpen: true }, () => socket.end(send));
    socket.on("data", (d: Buffer) => (got += d.length));
    socket.on("end", () => resolve(got));
    socket.on("error", reject);
  });
}

/** A server that answers each line it reads with the line's SHA-256 in hex and a newline. */
function hashEachLine(): Promise<net.Server> {
  const server = net.createServer((socket) => {
    let pending = "";
    socket.on("data", (d: Buffer) => {
      pending += d.toString("latin1");
      for (let nl = pending.indexOf("\n"); nl >= 0; nl = pending.indexOf("\n")) {
        socket.write(`${createHash("sha256").update(pending.slice(0, nl), "latin1").digest("hex")}\n`);
        pending = pending.slice(nl + 1);
      }
    });
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

/** Sends each line and waits for its answer before the next: one round trip each. Returns the answers. */
function pingPong(port: number, lines: string[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const answers: string[] = [];
    let got = "";
    const socket = net.connect({ port, host: "127.0.0.1" }, () => socket.write(`${lines[0]}\n`));
    socket.on("data", (d: Buffer) => {
      got += d.toString();
      if (!got.endsWith("\n")) return;
      answers.push(got.trim());
      got = "";
      if (answers.length === lines.length) {
        socket.end();
        resolve(answers);
      } else socket.write(`${lines[answers.length]}\n`);
    });
    socket.on("error", reject);
  });
}

describe("counting proxy", () => {
  test("through a WAN link: bytes intact and in order, each round trip at least twice the delay, pacing on large writes, turns counted", async () => {
    const upstream = await hashEachLine();
    const proxy = await startCountingProxy((upstream.address() as net.AddressInfo).port, {
      link: { delayMs: 30, bitsPerSecond: 8_000_000 },
    });
    try {
      const lines = ["a", "b".repeat(200_000), "c", "d".repeat(70_000), "e"];
      const started = performance.now();
      const answers = await pingPong(proxy.port, lines);
      const elapsed = performance.now() - started;
      expect(answers).toEqual(lines.map((l) => createHash("sha256").update(l).digest("hex")));
      // 5 round trips of 2 x 30 ms, and 270 KB at 1 MB/s: never faster than the link allows
      expect(elapsed).toBeGreaterThanOrEqual(5 * 60 + 270);
      await proxy.settle();
      expect(proxy.read().turns).toBe(5);
    } finally {
      await proxy.close();
      upstream.close();
    }
  });

  test("counts every byte each way, across connections, and resets", async () => {
    const upstream = await replyAfterEnd(12_345);
    const proxy = await startCountingProxy((upstream.address() as net.AddressInfo).port);
    try {
      expect(await exchange(proxy.port, Buffer.alloc(3 * 1024 * 1024 + 17, 1))).toBe(12_345);
      expect(await exchange(proxy.port, Buffer.alloc(100, 2))).toBe(12_345);
      await proxy.settle();
      expect(proxy.read()).toMatchObject({ clientToServer: 3 * 1024 * 1024 + 117, serverToClient: 2 * 12_345, connections: 2, turns: 2 });
      proxy.reset();
      expect(proxy.read()).toMatchObject({ clientToServer: 0, serverToClient: 0, connections: 0, turns: 0, clientFrames: {} });
      await exchange(proxy.port, Buffer.alloc(5));
      await proxy.settle();
      expect(proxy.read()).toMatchObject({ clientToServer: 5, serverToClient: 12_345, connections: 1, turns: 1 });
    } finally {
      await proxy.close();
      upstream.close();
    }
  });
});
