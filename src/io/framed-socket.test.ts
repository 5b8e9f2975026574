import { afterEach, expect, test } from "bun:test";
import type net from "node:net";
import { FrameType } from "../protocol/constants.ts";
import type { Frame } from "../protocol/frame-codec.ts";
import { connectTcp, FramedSocket, listenTcp, type TcpListener } from "./framed-socket.ts";

// One loopback connection carrying ~8 MiB: about 100 ms.

let listener: TcpListener | null = null;
afterEach(async () => listener?.close());

test("frames read before the next ones keep their bytes (bodies view the socket's reads, which are never reused)", async () => {
  const count = 200;
  const bodyOf = (n: number) => new Uint8Array(40_000 + n).fill(n % 251);
  listener = await listenTcp("127.0.0.1", 0, (socket: net.Socket) => {
    const sender = new FramedSocket(socket);
    void (async () => {
      for (let n = 0; n < count; n++) await sender.send({ type: FrameType.SEALED_CHUNK, body: bodyOf(n) });
      sender.close();
    })();
  });
  const receiver = await connectTcp("127.0.0.1", listener.port, 5000);
  const held: Frame[] = [];
  for (let n = 0; n < count; n++) held.push(await receiver.receive(5000));
  receiver.destroy();
  for (const [n, frame] of held.entries()) {
    expect(frame.body.length).toBe(bodyOf(n).length);
    expect(frame.body.every((byte) => byte === n % 251)).toBe(true);
  }
});
