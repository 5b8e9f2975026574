import { describe, expect, test } from "bun:test";
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

describe("counting proxy", () => {
  test("counts every byte each way, across connections, and resets", async () => {
    const upstream = await replyAfterEnd(12_345);
    const proxy = await startCountingProxy((upstream.address() as net.AddressInfo).port);
    try {
      expect(await exchange(proxy.port, Buffer.alloc(3 * 1024 * 1024 + 17, 1))).toBe(12_345);
      expect(await exchange(proxy.port, Buffer.alloc(100, 2))).toBe(12_345);
      await proxy.settle();
      expect(proxy.read()).toEqual({ clientToServer: 3 * 1024 * 1024 + 117, serverToClient: 2 * 12_345, connections: 2 });
      proxy.reset();
      expect(proxy.read()).toEqual({ clientToServer: 0, serverToClient: 0, connections: 0 });
      await exchange(proxy.port, Buffer.alloc(5));
      await proxy.settle();
      expect(proxy.read()).toEqual({ clientToServer: 5, serverToClient: 12_345, connections: 1 });
    } finally {
      await proxy.close();
      upstream.close();
    }
  });
});
