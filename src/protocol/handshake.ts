// Handshake state machines (client and server): HELLO/AUTH exchange, mutual Ed25519 authentication, session keys.
import { HashRelayError, type ErrorCode, type WireErrorCode } from "../errors.ts";
import { FrameType, OLDEST_PROTOCOL_VERSION, PROTOCOL_VERSION, Role } from "./constants.ts";
import { formatPublicKey, sameBytes, type Identity } from "./identity.ts";
import { typeName, type Frame } from "./frame-codec.ts";
import {
  decodeHello,
  fallbackFrom,
  deriveKeys,
  makeHello,
  signAuth,
  transcriptHash,
  verifyAuth,
  type Ephemeral,
  type Hello,
  type RandomSource,
} from "./handshake-crypto.ts";
import { busyFrame, decodeErrorFrame, errorFrame, retryAfterOf } from "./messages.ts";

export type { RandomSource } from "./handshake-crypto.ts";

/** Keys for SealedChannel: sendKey seals what this side sends, recvKey opens what it receives. */
export interface SessionKeys {
  sendKey: Uint8Array;
  recvKey: Uint8Array;
  /** The protocol version both HELLOs carry: what the session speaks (PROTOCOL.md §12). */
  version: number;
  /** th: binds the session to both HELLOs; exposed for logs and tests. */
  transcriptHash: Uint8Array;
}

export interface ServerSession extends SessionKeys {
  /** The name server.clients gives this client's key. */
  clientName: string;
  clientKey: Uint8Array;
}

/**
 * A handshake failure. `reply`, when set, is the plaintext ERROR frame to send before closing; the
 * server sets it (UNAUTHORIZED replies say only "unauthorized"), the client never does.
 */
export class HandshakeError extends HashRelayError {
  readonly reply: Frame | undefined;

  constructor(code: ErrorCode, message: string, hint: string, reply?: Frame, options?: { cause?: unknown }) {
    super(code, message, hint, options);
    this.name = "HandshakeError";
    this.reply = reply;
  }
}

function unexpected(expected: string, frame: Frame): HashRelayError {
  return new HashRelayError("BAD_FRAME", `expected ${expected} during the handshake, got frame type ${typeName(frame.type)}`);
}

export interface ClientHandshakeOptions {
  identity: Identity;
  /** The pinned client.serverKey. */
  serverKey: Uint8Array;
  random: RandomSource;
  /** The client's config file, for the command a changed server identity tells the user to run. */
  configFile?: string;
  /** The version its HELLO offers (default PROTOCOL_VERSION); the server's HELLO must carry the same. */
  version?: number;
  /** The newest version this client speaks, when this handshake follows a VERSION refusal of it: the HELLO says so (§12). */
  fallbackFrom?: number;
}

/**
 * The server presented another identity than the pinned one and proved it holds it (its AUTH verifies with
 * that key): a server reinstalled with a new key, or another machine at its address. UNAUTHORIZED; the
 * message names both keys and the command that pins the new one after the user confirms.
 */
export class ServerIdentityChanged extends HashRelayError {
  constructor(
    readonly pinned: string,
    readonly presented: string,
    configFile: string | undefined,
  ) {
    super(
      "UNAUTHORIZED",
      `the server's identity changed from ${pinned} to ${presented}; if this is expected, run hashrelay trust-server${configFile ? ` --config ${configFile}` : ""}`,
      "until then nothing is backed up; if you did not reinstall the server, find out who answers at its address",
    );
  }
}

/**
 * Client side: start() gives the HELLO to send; receive() takes the server's HELLO, then its AUTH,
 * and returns our AUTH plus the session keys. Every failure throws a HashRelayError (never with a
 * reply: the client closes without sending anything more), and the machine stays failed.
 */
export class ClientHandshake {
  private readonly options: ClientHandshakeOptions;
  private state: "new" | "await-hello" | "await-auth" | "done" | "failed" = "new";
  private ephemeral: Ephemeral | null = null;
  private serverHello: Uint8Array | null = null;
  private serverEphemeral: Uint8Array | null = null;
  /** The identity the server presented when it is not the pinned one: its AUTH is checked with it, then the handshake fails. */
  private presented: Uint8Array | null = null;

  constructor(options: ClientHandshakeOptions) {
    this.options = options;
  }

  private get version(): number {
    return this.options.version ?? PROTOCOL_VERSION;
  }

  start(): Frame[] {
    if (this.state !== "new") throw new HashRelayError("INTERNAL", "client handshake already started");
    this.ephemeral = makeHello(this.options.identity, Role.CLIENT, this.options.random, this.version, this.options.fallbackFrom);
    this.state = "await-hello";
    return [{ type: FrameType.HELLO, body: this.ephemeral.hello }];
  }

  receive(frame: Frame): { send: Frame[]; session?: SessionKeys } {
    try {
      return this.step(frame);
    } catch (err) {
      this.state = "failed";
      throw err;
    }
  }

  private step(frame: Frame): { send: Frame[]; session?: SessionKeys } {
    if (frame.type === FrameType.ERROR && (this.state === "await-hello" || this.state === "await-auth")) {
      throw serverRefusal(frame, this.options.identity.publicKey);
    }
    switch (this.state) {
      case "await-hello": {
        if (frame.type !== FrameType.HELLO) throw unexpected("the server HELLO", frame);
        const hello = decodeHello(frame.body, Role.SERVER, [this.version]);
        // Not the pinned key: nothing more is sent, but its AUTH is read to tell a changed identity from a forgery.
        if (!sameBytes(hello.identity, this.options.serverKey)) this.presented = hello.identity;
        this.serverHello = frame.body;
        this.serverEphemeral = hello.ephemeral;
        this.state = "await-auth";
        return { send: [] };
      }
      case "await-auth": {
        if (frame.type !== FrameType.AUTH) throw unexpected("the server AUTH", frame);
        const th = transcriptHash(this.ephemeral!.hello, this.serverHello!);
        if (this.presented) throw this.identityRefusal(frame.body, th, this.presented);
        if (!verifyAuth(frame.body, Role.SERVER, th, this.options.serverKey)) {
          throw new HashRelayError(
            "UNAUTHORIZED",
            `bad server signature from ${formatPublicKey(this.options.serverKey)} (HELLO altered in transit, or not the real server)`,
            "check the network path to the server",
          );
        }
        const [c2s, s2c] = deriveKeys(this.ephemeral!.secret, this.serverEphemeral!, th);
        this.state = "done";
        return {
          send: [signAuth(this.options.identity, Role.CLIENT, th)],
          session: { sendKey: c2s, recvKey: s2c, version: this.version, transcriptHash: th },
        };
      }
      case "new":
        throw new HashRelayError("INTERNAL", "client handshake received a frame before start()");
      case "done":
        throw new HashRelayError("INTERNAL", "client handshake is complete: route frames to the sealed channel");
      case "failed":
        throw new HashRelayError("INTERNAL", "client handshake already failed");
    }
  }

  /** Why a server presenting `presented` (not the pinned key) is refused: its identity changed when its AUTH verifies with it, else a forgery. */
  private identityRefusal(auth: Uint8Array, th: Uint8Array, presented: Uint8Array): HashRelayError {
    const pinned = formatPublicKey(this.options.serverKey);
    if (verifyAuth(auth, Role.SERVER, th, presented))
      return new ServerIdentityChanged(pinned, formatPublicKey(presented), this.options.configFile);
    return new HashRelayError(
      "UNAUTHORIZED",
      `server identity ${formatPublicKey(presented)} is not the pinned serverKey ${pinned}, and its signature does not verify`,
      "not the real server, or its HELLO was altered in transit: check the network path",
    );
  }
}

/**
 * A plaintext ERROR frame from the server (during the handshake, or right after it in place of the
 * sealed `welcome`) turned into a local error with the server's code and a hint for this client's user.
 * Throws BAD_FRAME when the frame is not a valid ERROR.
 */
export function serverRefusal(frame: Frame, clientPublicKey: Uint8Array): HashRelayError {
  const { code, message } = decodeErrorFrame(frame);
  if (code === "BUSY") return new ServerBusy(`server refused the handshake: ${message}`, retryAfterOf(message));
  const hints: Record<WireErrorCode, string> = {
    UNAUTHORIZED: `list this client's key ${formatPublicKey(clientPublicKey)} under server.clients on the server`,
    BUSY: "",
    VERSION: "install the same HashRelay version on client and server",
    TOO_LARGE: "",
    BAD_FRAME: "",
    HASH_MISMATCH: "",
    NO_SPACE: "",
    QUOTA: "",
  };
  return new HashRelayError(code, `server refused the handshake: ${message}`, hints[code]);
}

/**
 * The server has no room for this client now: BUSY, with the server's hint (PROTOCOL.md §3) of when to
 * try again, null when it sent none. Not a failure of the client: it waits and retries.
 */
export class ServerBusy extends HashRelayError {
  constructor(
    message: string,
    readonly retryAfterMs: number | null,
  ) {
    super("BUSY", message, "the server is at capacity: this client waits its turn and retries");
  }
}

/** Why a listed client may not start its handshake now, and when it may try again. */
export interface BusyRefusal {
  reason: string;
  retryAfterMs: number;
}

export interface ServerHandshakeOptions {
  identity: Identity;
  /**
   * The configured name of the client with this key, or null when server.clients does not list it.
   * Asked at HELLO (an unlisted key is refused before any key agreement or signature) and again at AUTH.
   */
  authorize: (clientPublicKey: Uint8Array) => string | null;
  /** Asked at HELLO once the key is listed, before any costly work: a refusal is answered BUSY with its hint. */
  admit?: (clientPublicKey: Uint8Array) => BusyRefusal | null;
  random: RandomSource;
  /**
   * The versions it accepts in a client HELLO, answering in the same one (default: PROTOCOL_VERSION and
   * every older one it still speaks). Tests pass [2] to play a version-2 server.
   */
  versions?: readonly number[];
}

/** Every version this side speaks, newest first. */
export const SPOKEN_VERSIONS: readonly number[] = Array.from(
  { length: PROTOCOL_VERSION - OLDEST_PROTOCOL_VERSION + 1 },
  (_, i) => PROTOCOL_VERSION - i,
);

/**
 * Server side: receive() takes the client HELLO (answers our HELLO + AUTH), then the client AUTH
 * (answers nothing; the caller then sends the sealed `welcome`). Every failure throws a HandshakeError
 * whose `reply` is the ERROR frame to send before closing; the machine stays failed.
 */
export class ServerHandshake {
  private readonly options: ServerHandshakeOptions;
  private state: "await-hello" | "await-auth" | "done" | "failed" = "await-hello";
  private clientHello: Uint8Array | null = null;
  private client: Hello | null = null;
  private th: Uint8Array | null = null;
  private keys: [Uint8Array, Uint8Array] | null = null;

  constructor(options: ServerHandshakeOptions) {
    this.options = options;
  }

  private get versions(): readonly number[] {
    return this.options.versions ?? SPOKEN_VERSIONS;
  }

  receive(frame: Frame): { send: Frame[]; session?: ServerSession } {
    try {
      return this.step(frame);
    } catch (err) {
      this.state = "failed";
      throw withReply(err, this.versions);
    }
  }

  private step(frame: Frame): { send: Frame[]; session?: ServerSession } {
    switch (this.state) {
      case "await-hello": {
        if (frame.type !== FrameType.HELLO) throw unexpected("the client HELLO", frame);
        const client = decodeHello(frame.body, Role.CLIENT, this.versions);
        refuseNeedlessFallback(client, this.versions);
        this.refuseEarly(client.identity);
        const mine = makeHello(this.options.identity, Role.SERVER, this.options.random, client.version);
        const th = transcriptHash(frame.body, mine.hello);
        this.keys = deriveKeys(mine.secret, client.ephemeral, th);
        this.clientHello = frame.body;
        this.client = client;
        this.th = th;
        this.state = "await-auth";
        return {
          send: [{ type: FrameType.HELLO, body: mine.hello }, signAuth(this.options.identity, Role.SERVER, th)],
        };
      }
      case "await-auth": {
        if (frame.type !== FrameType.AUTH) throw unexpected("the client AUTH", frame);
        const clientKey = this.client!.identity;
        const who = formatPublicKey(clientKey);
        if (!verifyAuth(frame.body, Role.CLIENT, this.th!, clientKey)) {
          throw new HashRelayError(
            "UNAUTHORIZED",
            `bad signature from client key ${who}`,
            "the HELLO was altered in transit or the peer does not hold that key",
          );
        }
        const clientName = this.options.authorize(clientKey);
        if (clientName === null) throw unknownClient(clientKey);
        const [c2s, s2c] = this.keys!;
        this.state = "done";
        const version = this.client!.version;
        return { send: [], session: { sendKey: s2c, recvKey: c2s, version, transcriptHash: this.th!, clientName, clientKey } };
      }
      case "done":
        throw new HashRelayError("INTERNAL", "server handshake is complete: route frames to the sealed channel");
      case "failed":
        throw new HashRelayError("INTERNAL", "server handshake already failed");
    }
  }

  /** At HELLO, before any costly work: an unlisted key is UNAUTHORIZED, a listed one the server has no room for is BUSY. */
  private refuseEarly(clientKey: Uint8Array): void {
    if (this.options.authorize(clientKey) === null) throw unknownClient(clientKey);
    const busy = this.options.admit?.(clientKey);
    if (busy) throw new HandshakeError("BUSY", busy.reason, "", busyFrame(busy.reason, busy.retryAfterMs));
  }
}

function unknownClient(clientKey: Uint8Array): HashRelayError {
  return new HashRelayError(
    "UNAUTHORIZED",
    `unknown client key ${formatPublicKey(clientKey)}`,
    "add it under server.clients to let this client in",
  );
}

/**
 * A client HELLO marked as a fallback from version N (§12) at a version below one this server speaks
 * and N covers: the client was refused a version this server speaks, so someone on the path forged
 * the refusal to push the session down. VERSION, answered with a message that says so.
 */
function refuseNeedlessFallback(client: Hello, versions: readonly number[]): void {
  const newest = fallbackFrom(client);
  if (newest === undefined) return;
  const better = versions.filter((v) => v > client.version && v <= newest);
  if (better.length === 0) return;
  throw new ForgedRefusal(
    `a fallback from protocol ${newest} to ${client.version}, but this server speaks ${Math.max(...better)}: a refusal on the path was forged`,
  );
}

/** A fallback HELLO this server did not need to get (refuseNeedlessFallback); its reply names the forgery. */
class ForgedRefusal extends HashRelayError {
  constructor(message: string) {
    super("VERSION", message, "someone between client and server is tampering with the connection: check the network path");
  }
}

/** Attaches the ERROR frame a server sends for a failure; UNAUTHORIZED never says why, VERSION says which versions (`versions`). */
function withReply(err: unknown, versions: readonly number[]): HandshakeError {
  if (err instanceof HandshakeError) return err;
  if (!(err instanceof HashRelayError)) {
    return new HandshakeError("INTERNAL", err instanceof Error ? err.message : String(err), "", undefined, { cause: err });
  }
  let reply: Frame | undefined;
  switch (err.code) {
    case "UNAUTHORIZED":
      reply = errorFrame("UNAUTHORIZED", "unauthorized");
      break;
    case "VERSION":
      reply = errorFrame("VERSION", err instanceof ForgedRefusal ? err.message : `this server speaks protocol ${versions.join(" and ")}`);
      break;
    case "BAD_FRAME":
      reply = errorFrame("BAD_FRAME", err.message);
      break;
  }
  return new HandshakeError(err.code, err.message, err.hint, reply, { cause: err.cause });
}
