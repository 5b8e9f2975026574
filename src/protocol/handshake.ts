// Handshake state machines (client and server): HELLO/AUTH exchange, mutual Ed25519 authentication, session keys.
import { createHash, hkdfSync } from "node:crypto";
import nacl from "tweetnacl";
import { HashRelayError, type ErrorCode, type WireErrorCode } from "../errors.ts";
import {
  AUTH_BYTES,
  FrameType,
  HELLO_BYTES,
  LABEL_AUTH,
  LABEL_SESSION_KEYS,
  LABEL_TRANSCRIPT,
  MAGIC,
  PROTOCOL_VERSION,
  Role,
  type RoleValue,
} from "./constants.ts";
import { formatPublicKey, sameBytes, type Identity } from "./identity.ts";
import { typeName, type Frame } from "./frame-codec.ts";
import { decodeErrorFrame, errorFrame } from "./messages.ts";

/** Keys for SealedChannel: sendKey seals what this side sends, recvKey opens what it receives. */
export interface SessionKeys {
  sendKey: Uint8Array;
  recvKey: Uint8Array;
  /** th: binds the session to both HELLOs; exposed for logs and tests. */
  transcriptHash: Uint8Array;
}

export interface ServerSession extends SessionKeys {
  /** The name server.clients gives this client's key. */
  clientName: string;
  clientKey: Uint8Array;
}

/** Source of randomness; must return exactly n fresh random bytes. */
export type RandomSource = (n: number) => Uint8Array;

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

interface Hello {
  role: RoleValue;
  identity: Uint8Array;
  ephemeral: Uint8Array;
  nonce: Uint8Array;
}

const encoder = new TextEncoder();
const ZERO32 = new Uint8Array(32);

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function take(random: RandomSource, n: number): Uint8Array {
  const bytes = random(n);
  if (!(bytes instanceof Uint8Array) || bytes.length !== n) {
    throw new HashRelayError("INTERNAL", `random source returned ${bytes?.length} bytes, expected ${n}`);
  }
  return bytes;
}

function encodeHello(hello: Hello): Uint8Array {
  return concat(MAGIC, new Uint8Array([PROTOCOL_VERSION, hello.role]), hello.identity, hello.ephemeral, hello.nonce);
}

/**
 * Parses a HELLO body. Magic and version come first so that a peer of another version is told so
 * whatever its HELLO looks like: bad magic → BAD_FRAME, other version → VERSION, then length and role → BAD_FRAME.
 */
function decodeHello(body: Uint8Array, expectedRole: RoleValue): Hello {
  if (body.length < 5 || !sameBytes(body.subarray(0, 4), MAGIC)) {
    throw new HashRelayError("BAD_FRAME", 'HELLO does not start with the magic "HRLY": not a HashRelay peer');
  }
  if (body[4] !== PROTOCOL_VERSION) {
    throw new HashRelayError("VERSION", `peer speaks protocol ${body[4]}, this side speaks ${PROTOCOL_VERSION}`);
  }
  if (body.length !== HELLO_BYTES) {
    throw new HashRelayError("BAD_FRAME", `HELLO of ${body.length} bytes, expected ${HELLO_BYTES}`);
  }
  if (body[5] !== expectedRole) {
    throw new HashRelayError("BAD_FRAME", `HELLO carries role ${body[5]}, expected ${expectedRole}`);
  }
  return {
    role: expectedRole,
    identity: body.slice(6, 38),
    ephemeral: body.slice(38, 70),
    nonce: body.slice(70, 102),
  };
}

function transcriptHash(clientHello: Uint8Array, serverHello: Uint8Array): Uint8Array {
  const hash = createHash("sha256");
  hash.update(encoder.encode(LABEL_TRANSCRIPT));
  hash.update(clientHello);
  hash.update(serverHello);
  return new Uint8Array(hash.digest());
}

function authMessage(role: RoleValue, th: Uint8Array): Uint8Array {
  return concat(encoder.encode(LABEL_AUTH), new Uint8Array([role]), th);
}

function signAuth(identity: Identity, role: RoleValue, th: Uint8Array): Frame {
  return { type: FrameType.AUTH, body: nacl.sign.detached(authMessage(role, th), identity.secretKey) };
}

/**
 * Whether an AUTH body is `signer`'s signature over `th` for `role`. An AUTH of another length is a
 * malformed frame, not a failed authentication (PROTOCOL.md §4.3): BAD_FRAME, before any check of who signed.
 */
function verifyAuth(body: Uint8Array, role: RoleValue, th: Uint8Array, signer: Uint8Array): boolean {
  if (body.length !== AUTH_BYTES) throw new HashRelayError("BAD_FRAME", `AUTH of ${body.length} bytes, expected ${AUTH_BYTES}`);
  return nacl.sign.detached.verify(authMessage(role, th), body, signer);
}

/** X25519 then HKDF-SHA256(ikm = shared, salt = th, info = label) → [client→server key, server→client key]. */
function deriveKeys(ephemeralSecret: Uint8Array, peerEphemeral: Uint8Array, th: Uint8Array): [Uint8Array, Uint8Array] {
  const shared = nacl.scalarMult(ephemeralSecret, peerEphemeral);
  if (sameBytes(shared, ZERO32)) {
    throw new HashRelayError("BAD_FRAME", "peer ephemeral key gives an all-zero shared secret (low-order point)");
  }
  const okm = new Uint8Array(hkdfSync("sha256", shared, th, LABEL_SESSION_KEYS, 64));
  return [okm.slice(0, 32), okm.slice(32, 64)];
}

function unexpected(expected: string, frame: Frame): HashRelayError {
  return new HashRelayError("BAD_FRAME", `expected ${expected} during the handshake, got frame type ${typeName(frame.type)}`);
}

interface Ephemeral {
  secret: Uint8Array;
  hello: Uint8Array;
}

function makeHello(identity: Identity, role: RoleValue, random: RandomSource): Ephemeral {
  const secret = take(random, 32);
  const ephemeral = nacl.scalarMult.base(secret);
  const nonce = take(random, 32);
  return { secret, hello: encodeHello({ role, identity: identity.publicKey, ephemeral, nonce }) };
}

export interface ClientHandshakeOptions {
  identity: Identity;
  /** The pinned client.serverKey. */
  serverKey: Uint8Array;
  random: RandomSource;
  /** The client's config file, for the command a changed server identity tells the user to run. */
  configFile?: string;
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

  start(): Frame[] {
    if (this.state !== "new") throw new HashRelayError("INTERNAL", "client handshake already started");
    this.ephemeral = makeHello(this.options.identity, Role.CLIENT, this.options.random);
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
        const hello = decodeHello(frame.body, Role.SERVER);
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
          session: { sendKey: c2s, recvKey: s2c, transcriptHash: th },
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
  const hints: Record<WireErrorCode, string> = {
    UNAUTHORIZED: `list this client's key ${formatPublicKey(clientPublicKey)} under server.clients on the server`,
    BUSY: "the server is at its connection cap; the next tick will retry",
    VERSION: "install the same HashRelay version on client and server",
    TOO_LARGE: "",
    BAD_FRAME: "",
    HASH_MISMATCH: "",
    NO_SPACE: "",
    QUOTA: "",
  };
  return new HashRelayError(code, `server refused the handshake: ${message}`, hints[code]);
}

export interface ServerHandshakeOptions {
  identity: Identity;
  /** The configured name of the client with this key, or null when server.clients does not list it. */
  authorize: (clientPublicKey: Uint8Array) => string | null;
  random: RandomSource;
}

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

  receive(frame: Frame): { send: Frame[]; session?: ServerSession } {
    try {
      return this.step(frame);
    } catch (err) {
      this.state = "failed";
      throw withReply(err);
    }
  }

  private step(frame: Frame): { send: Frame[]; session?: ServerSession } {
    switch (this.state) {
      case "await-hello": {
        if (frame.type !== FrameType.HELLO) throw unexpected("the client HELLO", frame);
        const client = decodeHello(frame.body, Role.CLIENT);
        const mine = makeHello(this.options.identity, Role.SERVER, this.options.random);
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
        if (clientName === null) {
          throw new HashRelayError("UNAUTHORIZED", `unknown client key ${who}`, `add it under server.clients to let this client in`);
        }
        const [c2s, s2c] = this.keys!;
        this.state = "done";
        return { send: [], session: { sendKey: s2c, recvKey: c2s, transcriptHash: this.th!, clientName, clientKey } };
      }
      case "done":
        throw new HashRelayError("INTERNAL", "server handshake is complete: route frames to the sealed channel");
      case "failed":
        throw new HashRelayError("INTERNAL", "server handshake already failed");
    }
  }
}

/** Attaches the ERROR frame a server sends for a failure; UNAUTHORIZED never says why, VERSION says which version. */
function withReply(err: unknown): HandshakeError {
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
      reply = errorFrame("VERSION", `this server speaks protocol ${PROTOCOL_VERSION}`);
      break;
    case "BAD_FRAME":
      reply = errorFrame("BAD_FRAME", err.message);
      break;
  }
  return new HandshakeError(err.code, err.message, err.hint, reply, { cause: err.cause });
}
