// What every upload stage is given: the client's identity and state, the log, the clock, and where progress goes.
import type { ArchiveFormat } from "../../archive/naming.ts";
import type { Identity } from "../../protocol/identity.ts";
import type { Logger } from "../../io/log.ts";
import type { SecureSession } from "../../session/secure-session.ts";
import type { ClientState } from "../state.ts";
import type { WholeChunkChoice } from "./whole-chunks.ts";
import type { SourceResult } from "../source-result.ts";

/** How far one source has got; reported after the walk, after each chunk is built, and after each chunk is sent. */
export interface UploadProgress {
  name: string;
  /** The source's tar stream size as estimated from the walk (file sizes, headers, padding). */
  totalBytes: number;
  /** Raw bytes chunked (and hashed) so far. */
  bytesHashed: number;
  /** Archive payload bytes put on the wire so far. */
  bytesSent: number;
}

export interface UploadContext {
  identity: Identity;
  /** Archive format of new archives (client.compression). */
  format: ArchiveFormat;
  serverKey: Uint8Array;
  configHash: string;
  state: ClientState;
  log: Logger;
  now: () => Date;
  /** Must not throw; called often (once per chunk). */
  onProgress?: (progress: UploadProgress) => void;
  /** The tick's closing `ping`, given for the tick's last source only. */
  closingPing?: ClosingPing;
  /** How whole chunks travel (whole-chunks.ts): by the link when not given. */
  wholeChunks?: WholeChunkChoice;
}

/**
 * The tick's closing `ping`, sent right behind the last source's final request (a claiming `offer` or
 * `commit`, PROTOCOL.md §10 steps 3 and 6) in a version-5 session; the tick reads its `pong` at the end.
 */
export interface ClosingPing {
  /** Sends the ping on `session` now, when its version allows; else nothing (the tick pings at the end). */
  sendBehind(session: SecureSession): Promise<void>;
  /** Reads the pong of a ping sent behind an `offer` answered `send-manifest`: before anything of the upload. */
  readNow(session: SecureSession): Promise<void>;
}

/**
 * Thrown when the session can no longer be used after a source failed mid-transfer. `again`: the
 * failure was HASH_MISMATCH, which a server gives when a stored member it reused was found damaged (it
 * then asks for that chunk) or a delta did not apply (blocks are dropped: whole chunks next): the
 * source is offered once more (PROTOCOL.md §10 step 6).
 */
export class SessionSpoiled extends Error {
  constructor(
    readonly result: SourceResult,
    readonly again = false,
  ) {
    super(result.error);
  }
}
