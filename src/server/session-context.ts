// What a server session is given (identity, store, limits, hooks) and what its parts share once it is authenticated.
import type { HashRelayError, WireErrorCode } from "../errors.ts";
import type { BusyRefusal } from "../protocol/handshake.ts";
import type { Identity } from "../protocol/identity.ts";
import type { Logger } from "../io/log.ts";
import type { SecureSession } from "../session/secure-session.ts";
import type { IndexEntry, Store } from "../store/store.ts";
import type { StreamGrants } from "./stream-grants.ts";
import type { CommitGate } from "./commit-gate.ts";

export interface ServerSessionContext {
  identity: Identity;
  store: Store;
  log: Logger;
  /** The configured client name for a public key, or null when the key is not listed. */
  authorize: (clientKey: Uint8Array) => string | null;
  now: () => Date;
  /** Asked at HELLO for a listed key, before any costly work: a refusal is sent as BUSY with its retry hint (server/admission.ts). */
  admit?: (clientKey: Uint8Array) => BusyRefusal | null;
  /** From accept until the client HELLO is complete (default: the whole handshake timeout). */
  helloTimeoutMs?: number;
  /** server.limits in force when the connection arrived (default: the protocol constants). */
  handshakeTimeoutMs?: number;
  idleTimeoutMs?: number;
  /** Client HELLO versions accepted (default: every one this server speaks); tests pass [2] to play a version-2 server. */
  versions?: readonly number[];
  /** Told of a handshake that did not end in a session, with the peer's address, to log it (aggregated); without it each is logged at once. */
  refused?: (error: HashRelayError, remote: string) => void;
  /**
   * Told of each authenticated session; `end` closes it with a sealed error (a reload that removed the
   * client). Returns what to call once the session is over.
   */
  track?: (client: string, clientKey: Uint8Array, end: (code: WireErrorCode, reason: string) => void) => () => void;
  /** Shared by every session: how many commits assemble their archive at once (server/commit-gate.ts); none: no bound. */
  commits?: CommitGate;
  /** Shared by every session: how many uploads may send a chunk stream at once (server/stream-grants.ts); none: the process's. */
  streams?: StreamGrants;
  /** Told the config hash a client reports in `ping`, once per session and whenever it changes. */
  onConfigHash?: (client: string, hash: string) => void;
  /** Told what happens, for metrics and `hashrelay status`; each hook must be cheap and must not throw. */
  events?: SessionEvents;
}

export interface SessionEvents {
  sessionOpened?(client: string, remote: string): void;
  /** The handshake did not end in a session: UNAUTHORIZED, TIMEOUT, CLOSED, BAD_FRAME… */
  handshakeRefused?(code: string): void;
  /** A manifest page of `entries` chunks, of which the server lacked `needed`. */
  manifestPage?(client: string, entries: number, needed: number): void;
  chunkReceived?(client: string, bytes: number): void;
  archiveStored?(client: string, entry: IndexEntry): void;
}

/** The sealed session of an authenticated client, with the key it proved. */
export type ServerSecureSession = SecureSession & { clientKey: Uint8Array };

/** One authenticated session as each of its parts sees it. */
export interface SessionScope {
  readonly session: ServerSecureSession;
  /** The client's configured name: every store call of the session is made for it, and for no other. */
  readonly client: string;
  readonly ctx: ServerSessionContext;
  /** The server's log with `client` on every line. */
  readonly log: Logger;
}

/** `log` with `client` added to the fields of every line. */
export function clientLogger(log: Logger, client: string): Logger {
  return { log: (level, message, fields = {}) => log.log(level, message, { client, ...fields }) };
}
