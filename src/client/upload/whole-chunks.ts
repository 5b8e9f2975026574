// How an upload's whole chunks travel: gzip members made here, or one zstd stream the server makes members of (§8.10).
import { STREAM_MIN_RTT_MS, STREAM_VERSION } from "../../protocol/constants.ts";
import type { SecureSession } from "../../session/secure-session.ts";
import { OpeningSession } from "./opening-session.ts";

/** `stream` or `members` always (tests); `auto` by the link: a round trip of STREAM_MIN_RTT_MS or more. */
export type WholeChunkChoice = "auto" | "stream" | "members";

/**
 * The way of one upload. A stream is for a slow link (a version-6 session whose shortest timed round trip,
 * SecureSession.roundTripMs, is STREAM_MIN_RTT_MS or more, once the offer's answer is in) that the server
 * granted (`send-manifest` with `stream: true`). Until that is known, chunks read are kept raw (compressNow
 * false): then each goes into the stream, or to a worker for its member. The least round trip only falls,
 * so a fast link is known for one at its first timing.
 */
export class WholeChunks {
  private open: SecureSession | null = null;
  private granted: boolean | null = null;

  constructor(
    session: SecureSession | OpeningSession,
    private readonly choice: WholeChunkChoice = "auto",
  ) {
    if (session instanceof OpeningSession)
      session.open.then(
        (open) => (this.open = open),
        () => undefined,
      );
    else this.open = session;
  }

  /** The offer's answer: whether the server lets chunks come as a stream. */
  answered(stream: boolean): void {
    this.granted = stream;
  }

  /** When a chunk is read: whether its member is sure to be wanted, so made at once with its blocks. */
  compressNow(): boolean {
    return this.slowLink() === false || this.granted === false;
  }

  /** When a chunk is sent: whether it goes into the stream (else as a member). */
  streams(): boolean {
    return this.granted === true && this.slowLink() === true;
  }

  /** Whether the link is slow enough for a stream; null while that is not known yet. */
  private slowLink(): boolean | null {
    if (this.choice === "members") return false;
    if (!this.open) return null;
    if (this.open.version < STREAM_VERSION) return false;
    if (this.choice === "stream") return true;
    const rtt = this.open.roundTripMs;
    if (rtt !== null && rtt < STREAM_MIN_RTT_MS) return false;
    // the offer's answer brings the last timing
    return this.granted === null ? null : (rtt ?? 0) >= STREAM_MIN_RTT_MS;
  }
}
