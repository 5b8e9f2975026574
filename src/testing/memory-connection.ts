// Test helper: two Connections joined in memory, frames encoded and decoded by the real codec, every frame logged in order.
import { HashRelayError } from "../errors.ts";
import { encodeFrame, FrameDecoder, type Frame } from "../protocol/frame-codec.ts";
import type { Connection } from "../session/connection.ts";

/** One frame as it crossed the pair: who sent it, its type and its body length (sealed frames are opaque here). */
export interface LoggedFrame {
  from: "a" | "b";
  type: number;
  bytes: number;
}

class MemoryEnd implements Connection {
  peer!: MemoryEnd;
  bytesWritten = 0;
  private readonly decoder = new FrameDecoder();
  private readonly queue: Frame[] = [];
  private waiter: { resolve: (f: Frame) => void; reject: (e: Error) => void; timer: ReturnType<typeof setTimeout> } | null = null;
  private closedBy: HashRelayError | null = null;

  constructor(
    readonly remote: string,
    private readonly side: "a" | "b",
    private readonly log: LoggedFrame[],
  ) {}

  send(frame: Frame): Promise<void> {
    return this.sendEncoded(encodeFrame(frame.type, frame.body));
  }

  async sendEncoded(bytes: Uint8Array): Promise<void> {
    if (this.closedBy) throw this.closedBy;
    this.bytesWritten += bytes.length;
    // The bytes are copied (a socket copies them too) and split in two pushes: the decoder must join them.
    const own = bytes.slice();
    const cut = own.length >> 1;
    const frames = [...this.peer.decoder.push(own.subarray(0, cut)), ...this.peer.decoder.push(own.subarray(cut))];
    for (const frame of frames) {
      this.log.push({ from: this.side, type: frame.type, bytes: frame.body.length });
      this.peer.deliver(frame);
    }
  }

  receive(timeoutMs: number): Promise<Frame> {
    const next = this.queue.shift();
    if (next) return Promise.resolve(next);
    if (this.closedBy) return Promise.reject(this.closedBy);
    return new Promise<Frame>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new HashRelayError("TIMEOUT", `no frame for ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiter = { resolve, reject, timer };
    });
  }

  close(): void {
    this.end(new HashRelayError("CLOSED", "connection closed"));
    this.peer.end(new HashRelayError("CLOSED", "connection closed by peer"));
  }

  private deliver(frame: Frame): void {
    if (this.closedBy) return;
    if (this.waiter) {
      const { resolve, timer } = this.waiter;
      this.waiter = null;
      clearTimeout(timer);
      resolve(frame);
    } else {
      this.queue.push(frame);
    }
  }

  private end(reason: HashRelayError): void {
    if (this.closedBy) return;
    this.closedBy = reason;
    if (this.waiter) {
      const { reject, timer } = this.waiter;
      this.waiter = null;
      clearTimeout(timer);
      reject(reason);
    }
  }
}

/**
 * Two connected ends: what `a` sends, `b` receives, and back. Frames go through encodeFrame and a
 * FrameDecoder (so limits apply as on TCP) and are delivered in order, synchronously on send.
 * Closing one end closes both (the other sees CLOSED). `log` lists every frame delivered.
 */
export function memoryConnectionPair(): { a: Connection; b: Connection; log: LoggedFrame[] } {
  const log: LoggedFrame[] = [];
  const a = new MemoryEnd("memory:b", "a", log);
  const b = new MemoryEnd("memory:a", "b", log);
  a.peer = b;
  b.peer = a;
  return { a, b, log };
}
