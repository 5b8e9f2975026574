// The narrow transport the agent talks to: frames in, frames out (implemented over TCP in src/io/framed-socket.ts).
import type { Frame } from "../protocol/frame-codec.ts";

export interface Connection {
  /** Peer address for logs. */
  readonly remote: string;
  /** Bytes put on the wire so far (frame headers included). */
  readonly bytesWritten: number;
  /** Sends one frame. Throws CLOSED when the peer is gone; not retryable on the same connection. */
  send(frame: Frame): Promise<void>;
  /** Sends one frame already encoded (encodeFrame's layout, e.g. SealedChannel.sealToBytes); same contract as send. */
  sendEncoded(bytes: Uint8Array): Promise<void>;
  /** Next frame. Throws TIMEOUT after timeoutMs of silence, CLOSED, or TOO_LARGE/BAD_FRAME from the decoder. */
  receive(timeoutMs: number): Promise<Frame>;
  /** Flushes and closes; never throws. */
  close(): void;
}
