// A TCP socket seen as a stream of protocol frames: the only place that reads and writes sockets.
import net from "node:net";
import { HashRelayError } from "../errors.ts";
import { encodeFrame, FrameDecoder, type Frame } from "../protocol/frame-codec.ts";

/** Bytes a sender may leave in the socket's buffer before it waits for a drain (a wait per 64 KiB chunk frame costs an event-loop turn each). */
const SEND_WINDOW_BYTES = 1024 * 1024;
/**
 * Frames queued but not yet consumed before the socket is paused (backpressure), and bytes: a server
 * holds one queue per session, so at 64 sessions of chunk frames 64 frames each would be 256 MiB.
 */
const MAX_QUEUED_FRAMES = 64;
const MAX_QUEUED_BYTES = 1024 * 1024;

/** Satisfies session/connection.ts (structurally: io knows nothing of sessions). */
export class FramedSocket {
  private readonly decoder = new FrameDecoder();
  private readonly queue: Frame[] = [];
  private queuedBytes = 0;
  private waiter: { resolve: (f: Frame) => void; reject: (e: Error) => void } | null = null;
  private failure: HashRelayError | null = null;
  private ended = false;
  bytesWritten = 0;
  bytesRead = 0;
  /** "address:port" of the peer, taken at connect: a socket that is gone no longer knows it. */
  readonly remote: string;

  constructor(private readonly socket: net.Socket) {
    this.remote = `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}`;
    socket.setNoDelay(true);
    socket.on("data", (data: Buffer) => this.onData(data));
    socket.on("error", (err) => this.fail(closedError(err)));
    socket.on("close", () => this.fail(new HashRelayError("CLOSED", "connection closed by peer")));
  }

  /**
   * Bun hands each read over in a fresh buffer, never refilled: the decoder's frames may view it
   * (frame-codec.ts, "who copies"), which keeps a read alive while a queued frame of it is.
   */
  private onData(data: Buffer): void {
    this.bytesRead += data.length;
    let frames: Frame[];
    try {
      frames = this.decoder.push(new Uint8Array(data.buffer, data.byteOffset, data.length));
    } catch (err) {
      this.fail(err instanceof HashRelayError ? err : new HashRelayError("BAD_FRAME", String(err)));
      return;
    }
    for (const frame of frames) {
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = null;
        w.resolve(frame);
      } else {
        this.queue.push(frame);
        this.queuedBytes += frame.body.length;
      }
    }
    if (this.queue.length >= MAX_QUEUED_FRAMES || this.queuedBytes >= MAX_QUEUED_BYTES) this.socket.pause();
  }

  private fail(err: HashRelayError): void {
    if (!this.failure) this.failure = err;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w.reject(this.failure);
    }
  }

  /** Writes one frame; see sendEncoded. */
  send(frame: Frame): Promise<void> {
    return this.sendEncoded(encodeFrame(frame.type, frame.body));
  }

  /**
   * Writes one encoded frame. Resolves at once while less than SEND_WINDOW_BYTES wait in the socket's
   * buffer, else once it drained. Throws CLOSED if the socket is gone.
   */
  async sendEncoded(bytes: Uint8Array): Promise<void> {
    if (this.ended || this.socket.destroyed) throw this.failure ?? new HashRelayError("CLOSED", "connection closed");
    this.bytesWritten += bytes.length;
    const flushed = this.socket.write(bytes);
    if (!flushed && this.socket.writableLength > SEND_WINDOW_BYTES) {
      await new Promise<void>((resolve, reject) => {
        const onDrain = () => {
          cleanup();
          resolve();
        };
        const onClose = () => {
          cleanup();
          reject(this.failure ?? new HashRelayError("CLOSED", "connection closed"));
        };
        const cleanup = () => {
          this.socket.off("drain", onDrain);
          this.socket.off("close", onClose);
        };
        this.socket.on("drain", onDrain);
        this.socket.on("close", onClose);
      });
    }
  }

  /** Next frame. Throws TIMEOUT after timeoutMs of silence, CLOSED when the peer went away, or the decoder's error. */
  receive(timeoutMs: number): Promise<Frame> {
    const queued = this.queue.shift();
    if (queued) {
      this.queuedBytes -= queued.body.length;
      const drained = this.queue.length < MAX_QUEUED_FRAMES / 2 && this.queuedBytes < MAX_QUEUED_BYTES / 2;
      if (drained && this.socket.isPaused()) this.socket.resume();
      return Promise.resolve(queued);
    }
    if (this.failure) return Promise.reject(this.failure);
    if (this.socket.isPaused()) this.socket.resume();
    return new Promise<Frame>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new HashRelayError("TIMEOUT", `peer ${this.remote} silent for ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs);
      this.waiter = {
        resolve: (f) => {
          clearTimeout(timer);
          resolve(f);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
    });
  }

  /** Sends what is buffered, then closes. Never throws. */
  close(): void {
    if (this.ended) return;
    this.ended = true;
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  /** Closes at once, dropping what is buffered. */
  destroy(): void {
    this.ended = true;
    this.socket.destroy();
  }
}

function closedError(err: Error & { code?: string }): HashRelayError {
  if (err.code === "ECONNREFUSED") return new HashRelayError("SERVER_DOWN", "connection refused", "", { cause: err });
  if (err.code === "ECONNRESET" || err.code === "EPIPE")
    return new HashRelayError("CLOSED", "connection reset by peer", "", { cause: err });
  return new HashRelayError("CLOSED", err.message, "", { cause: err });
}

/** Opens a TCP connection; throws SERVER_DOWN ("refused", "timeout", DNS failure) with the reason. */
export function connectTcp(host: string, port: number, timeoutMs: number): Promise<FramedSocket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new HashRelayError("SERVER_DOWN", `timeout connecting to ${host}:${port}`));
    }, timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      resolve(new FramedSocket(socket));
    });
    socket.once("error", (err: Error & { code?: string }) => {
      clearTimeout(timer);
      const reason = err.code === "ECONNREFUSED" ? "connection refused" : err.code === "ENOTFOUND" ? "host not found" : err.message;
      reject(new HashRelayError("SERVER_DOWN", `${reason} (${host}:${port})`, "", { cause: err }));
    });
  });
}

export interface TcpListener {
  readonly port: number;
  close(): Promise<void>;
}

/** Listens on host:port; calls onConnection for each accepted socket. Throws if the address cannot be bound. */
export function listenTcp(host: string, port: number, onConnection: (socket: net.Socket) => void): Promise<TcpListener> {
  return new Promise((resolve, reject) => {
    const server = net.createServer({ pauseOnConnect: false }, onConnection);
    server.once("error", (err) =>
      reject(
        new HashRelayError("USAGE", `cannot listen on ${host}:${port}: ${err.message}`, "choose a free port or address", { cause: err }),
      ),
    );
    server.listen({ host, port }, () => {
      const addr = server.address();
      resolve({
        port: typeof addr === "object" && addr ? addr.port : port,
        close: () => new Promise((r) => server.close(() => r())),
      });
    });
  });
}
