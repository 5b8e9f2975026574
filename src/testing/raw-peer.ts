// A hand-driven protocol peer for abuse tests: raw bytes or real frames over a real loopback socket.
import net from "node:net";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import { FrameDecoder, encodeFrame, type Frame } from "../protocol/frame-codec.ts";
import { ClientHandshake } from "../protocol/handshake.ts";
import { SealedChannel } from "../protocol/sealed-channel.ts";
import { decodeControl } from "../protocol/messages.ts";
import { parsePublicKey, parseSecretKeyFile } from "../protocol/identity.ts";
import { FrameType } from "../protocol/constants.ts";

export class RawPeer {
  private readonly decoder = new FrameDecoder();
  private readonly frames: Frame[] = [];
  private waiting: (() => void) | null = null;
  readonly closed: Promise<void>;
  isClosed = false;

  private constructor(readonly socket: net.Socket) {
    socket.on("data", (d: Buffer) => {
      try {
        this.frames.push(...this.decoder.push(new Uint8Array(d)));
      } catch {
        // the test only reads well-formed server frames
      }
      this.waiting?.();
    });
    socket.on("error", () => undefined);
    this.closed = new Promise((resolve) =>
      socket.once("close", () => {
        this.isClosed = true;
        this.waiting?.();
        resolve();
      }),
    );
  }

  static connect(port: number): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: "127.0.0.1", port }, () => resolve(new RawPeer(socket)));
      socket.once("error", reject);
    });
  }

  write(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  send(frame: Frame): void {
    this.write(encodeFrame(frame.type, frame.body));
  }

  /** Next frame from the server, or null once the connection closed. Throws after timeoutMs. */
  async next(timeoutMs = 5000): Promise<Frame | null> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length === 0) {
      if (this.isClosed) return null;
      if (Date.now() > deadline) throw new Error("no frame from the server in time");
      await new Promise<void>((resolve) => {
        this.waiting = resolve;
        setTimeout(resolve, 50);
      });
      this.waiting = null;
    }
    return this.frames.shift()!;
  }

  /** Resolves true when the server closed the connection within timeoutMs. */
  async closedWithin(timeoutMs: number): Promise<boolean> {
    return Promise.race([this.closed.then(() => true), Bun.sleep(timeoutMs).then(() => false)]);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Handshakes as the client whose key file is given; returns the peer and its sealed channel after `welcome`. */
export async function authenticatedPeer(
  port: number,
  clientKeyFile: string,
  serverKeyText: string,
): Promise<{ peer: RawPeer; channel: SealedChannel }> {
  const identity = parseSecretKeyFile(fs.readFileSync(clientKeyFile, "utf8"), clientKeyFile);
  const serverKey = parsePublicKey(serverKeyText)!;
  const peer = await RawPeer.connect(port);
  const handshake = new ClientHandshake({ identity, serverKey, random: (n) => new Uint8Array(randomBytes(n)) });
  for (const f of handshake.start()) peer.send(f);
  for (;;) {
    const frame = await peer.next();
    if (!frame) throw new Error("server closed during the handshake");
    const step = handshake.receive(frame);
    for (const f of step.send) peer.send(f);
    if (step.session) {
      const channel = new SealedChannel(step.session.sendKey, step.session.recvKey);
      const welcome = await peer.next();
      if (!welcome || welcome.type !== FrameType.SEALED_CONTROL) throw new Error("no welcome");
      const message = decodeControl(channel.open(welcome));
      if (message.type !== "welcome") throw new Error(`expected welcome, got ${message.type}`);
      return { peer, channel };
    }
  }
}
