// Drives the handshake over a Connection, then carries sealed control messages and binary payloads.
import { randomBytes } from "node:crypto";
import { HashRelayError, type WireErrorCode } from "../errors.ts";
import { FrameType, HANDSHAKE_TIMEOUT_MS, OLDEST_PROTOCOL_VERSION, PIPELINED_VERSION, PROTOCOL_VERSION } from "../protocol/constants.ts";
import type { Frame } from "../protocol/frame-codec.ts";
import { ClientHandshake, HandshakeError, ServerHandshake, serverRefusal, type BusyRefusal } from "../protocol/handshake.ts";
import { SealedChannel } from "../protocol/sealed-channel.ts";
import {
  busyFrame,
  decodeControl,
  decodeErrorFrame,
  encodeControl,
  errorFrame,
  errorMessage,
  type ControlMessage,
  type Sender,
} from "../protocol/messages.ts";
import type { Identity } from "../protocol/identity.ts";
import type { Connection } from "./connection.ts";

const random = (n: number) => new Uint8Array(randomBytes(n));

export type Incoming = { kind: "control"; message: ControlMessage } | { kind: "binary"; type: number; payload: Uint8Array };

export class SecureSession {
  /** The error the peer sent, once one arrived: whoever was reading, a failure after it can be explained by it. */
  peerRefusal: HashRelayError | null = null;
  /**
   * A client's session: the shortest round trip it timed (HELLO, AUTH to welcome, an offer to its answer):
   * each holds the server's work on it and any wait of this side's own event loop, so the least is nearest
   * the link's. Null before any.
   */
  roundTripMs: number | null = null;

  /** One more round trip timed (`ms`): roundTripMs keeps the least. */
  timedRoundTrip(ms: number): void {
    this.roundTripMs = Math.min(this.roundTripMs ?? ms, ms);
  }

  constructor(
    readonly connection: Connection,
    private readonly channel: SealedChannel,
    /** The client's name as the server knows it (from the server's list, or from `welcome`). */
    readonly clientName: string,
    /** Who is at the other end: messages only that side may send are accepted. */
    private readonly peer: Sender,
    /** The protocol version both HELLOs carried (PROTOCOL.md §12): what this session may send. */
    readonly version: number,
  ) {}

  async sendControl(message: ControlMessage): Promise<void> {
    await this.connection.sendEncoded(this.channel.sealToBytes(FrameType.SEALED_CONTROL, encodeControl(message)));
  }

  async sendBinary(type: number, payload: Uint8Array): Promise<void> {
    await this.connection.sendEncoded(this.channel.sealToBytes(type, payload));
  }

  /** Sends an error message, then closes; never throws. */
  async fail(code: WireErrorCode, message: string): Promise<void> {
    try {
      await this.sendControl(errorMessage(code, message));
    } catch {
      // the peer may be gone already
    }
    this.connection.close();
  }

  /** Next sealed frame, opened and decoded. An `error` from the peer is thrown as HashRelayError with its code. */
  async receive(timeoutMs: number): Promise<Incoming> {
    const frame = await this.connection.receive(timeoutMs);
    if (frame.type === FrameType.ERROR) throw (this.peerRefusal = peerError(frame));
    const payload = this.channel.open(frame);
    if (frame.type !== FrameType.SEALED_CONTROL) return { kind: "binary", type: frame.type, payload };
    const message = decodeControl(payload, this.peer);
    if (message.type === "error") {
      throw (this.peerRefusal = new HashRelayError(message.code, `peer refused: ${message.message}`));
    }
    return { kind: "control", message };
  }

  /** Next message, which must be a control message of one of `types`; anything else is BAD_FRAME. */
  async expect<T extends ControlMessage["type"]>(types: readonly T[], timeoutMs: number): Promise<Extract<ControlMessage, { type: T }>> {
    const incoming = await this.receive(timeoutMs);
    if (incoming.kind === "control" && (types as readonly string[]).includes(incoming.message.type)) {
      return incoming.message as Extract<ControlMessage, { type: T }>;
    }
    const got = incoming.kind === "control" ? incoming.message.type : `binary frame 0x${incoming.type.toString(16)}`;
    throw new HashRelayError("BAD_FRAME", `expected ${types.join(" or ")}, got ${got}`);
  }

  /** Next message, which must be a binary frame of `type`. */
  async expectBinary(type: number, timeoutMs: number): Promise<Uint8Array> {
    const incoming = await this.receive(timeoutMs);
    if (incoming.kind === "binary" && incoming.type === type) return incoming.payload;
    const got = incoming.kind === "control" ? incoming.message.type : `binary frame 0x${incoming.type.toString(16)}`;
    throw new HashRelayError("BAD_FRAME", `expected binary frame 0x${type.toString(16)}, got ${got}`);
  }
}

function peerError(frame: Frame): HashRelayError {
  const { code, message } = decodeErrorFrame(frame);
  return new HashRelayError(code, `peer refused: ${message}`);
}

/** How a client opens its session. */
export interface ClientSessionOptions {
  /** Named in the advice when the server's identity changed (hashrelay trust-server --config FILE). */
  configFile?: string;
  /** The version the HELLO offers (default PROTOCOL_VERSION). */
  version?: number;
  /**
   * A new connection to the same server: given, a server that refuses the version with VERSION is tried
   * once more on it at the newest version its refusal names that this side speaks, else at
   * OLDEST_PROTOCOL_VERSION (PROTOCOL.md §12).
   */
  reconnect?: () => Promise<Connection>;
  /**
   * Sealed and sent right behind the client AUTH when the session's version is PIPELINED_VERSION or later
   * (PROTOCOL.md §10 step 2: the probe's `ping`, whose `pong` then follows `welcome`); an older session
   * leaves it to the caller, after `welcome`.
   */
  early?: ControlMessage;
}

/**
 * Client side: handshake with the pinned server key, then waits for `welcome`; with `reconnect`, falls back
 * once to an older version a server refusing the newest speaks. Throws UNAUTHORIZED (a ServerIdentityChanged,
 * naming `configFile` in its advice, when the server proves another identity), VERSION, TIMEOUT, CLOSED.
 * A fallback's connection is closed here when it fails; `connection` is the caller's.
 */
export async function openClientSession(
  connection: Connection,
  identity: Identity,
  serverKey: Uint8Array,
  options: ClientSessionOptions = {},
): Promise<SecureSession> {
  const version = options.version ?? PROTOCOL_VERSION;
  try {
    return await handshakeAt(connection, identity, serverKey, version, options);
  } catch (err) {
    if (!(err instanceof HashRelayError && err.code === "VERSION" && options.reconnect && version > OLDEST_PROTOCOL_VERSION)) throw err;
    connection.close();
    const older = await options.reconnect();
    try {
      return await handshakeAt(older, identity, serverKey, fallbackVersion(err.message, version), options, version);
    } catch (again) {
      older.close();
      throw again;
    }
  }
}

/**
 * The version to offer after a refusal of `refused` whose message is `message` (a server says
 * "this server speaks protocol 3 and 2"): the newest it names below `refused` and not below
 * OLDEST_PROTOCOL_VERSION, else OLDEST_PROTOCOL_VERSION.
 */
export function fallbackVersion(message: string, refused: number): number {
  const named = (message.match(/\d+/g) ?? []).map(Number).filter((v) => v < refused && v >= OLDEST_PROTOCOL_VERSION);
  return named.length ? Math.max(...named) : OLDEST_PROTOCOL_VERSION;
}

/** One handshake at `version` on `connection`, up to `welcome`; `fallbackFrom`: the version a VERSION refusal refused (§12). */
async function handshakeAt(
  connection: Connection,
  identity: Identity,
  serverKey: Uint8Array,
  version: number,
  { configFile, early }: ClientSessionOptions,
  fallbackFrom?: number,
): Promise<SecureSession> {
  const deadline = Date.now() + HANDSHAKE_TIMEOUT_MS;
  const remaining = () => Math.max(1, deadline - Date.now());
  const handshake = new ClientHandshake({ identity, serverKey, random, configFile, version, ...(fallbackFrom ? { fallbackFrom } : {}) });
  for (const frame of handshake.start()) await connection.send(frame);
  const helloSent = performance.now();
  let helloRttMs: number | null = null;
  for (;;) {
    const frame = await connection.receive(remaining());
    helloRttMs ??= performance.now() - helloSent;
    let step;
    try {
      step = handshake.receive(frame);
    } catch (err) {
      connection.close();
      throw err;
    }
    for (const out of step.send) await connection.send(out);
    if (step.session) {
      const channel = new SealedChannel(step.session.sendKey, step.session.recvKey);
      if (early && step.session.version >= PIPELINED_VERSION)
        await connection.sendEncoded(channel.sealToBytes(FrameType.SEALED_CONTROL, encodeControl(early)));
      const authSent = performance.now();
      // The server refuses an unlisted key with a plaintext ERROR in place of the sealed welcome.
      const next = await connection.receive(remaining());
      const welcomeRttMs = performance.now() - authSent;
      if (next.type === FrameType.ERROR) throw serverRefusal(next, identity.publicKey);
      const message = decodeControl(channel.open(next), "server");
      if (message.type !== "welcome") throw new HashRelayError("BAD_FRAME", `expected welcome, got ${message.type}`);
      const session = new SecureSession(connection, channel, message.client, "server", step.session.version);
      session.timedRoundTrip(helloRttMs ?? welcomeRttMs);
      session.timedRoundTrip(welcomeRttMs);
      return session;
    }
  }
}

/** Who may open a session on this server, and how long the handshake may take. */
export interface ServerGate {
  /** The configured name of a client key, or null when it is not listed (asked at HELLO and again at AUTH). */
  authorize: (clientKey: Uint8Array) => string | null;
  /** Asked at HELLO for a listed key, before any costly work: a refusal is sent as BUSY with its retry hint. */
  admit?: (clientKey: Uint8Array) => BusyRefusal | null;
  /** From accept until the client HELLO is complete (default: the whole handshake timeout). */
  helloTimeoutMs?: number;
  /** From accept until the client AUTH is verified (default HANDSHAKE_TIMEOUT_MS). */
  handshakeTimeoutMs?: number;
  /** The client HELLO versions accepted (default: all this side speaks); tests pass [2] to play a version-2 server. */
  versions?: readonly number[];
}

/**
 * Server side: handshake, admission and authorization through `gate`, then sends `welcome`. On refusal
 * sends only the ERROR frame (UNAUTHORIZED, BUSY with its hint, VERSION, BAD_FRAME) and throws the real
 * reason; a peer silent past a deadline gets nothing and TIMEOUT is thrown.
 */
export async function openServerSession(
  connection: Connection,
  identity: Identity,
  gate: ServerGate,
): Promise<SecureSession & { clientKey: Uint8Array }> {
  const handshakeTimeoutMs = gate.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS;
  const deadline = Date.now() + handshakeTimeoutMs;
  const helloTimeoutMs = Math.min(gate.helloTimeoutMs ?? handshakeTimeoutMs, handshakeTimeoutMs);
  let waitUntil = Date.now() + helloTimeoutMs;
  const handshake = new ServerHandshake({ identity, authorize: gate.authorize, admit: gate.admit, random, versions: gate.versions });
  for (;;) {
    let step;
    try {
      const frame = await receiveBefore(
        connection,
        waitUntil,
        waitUntil < deadline ? `no complete HELLO ${seconds(helloTimeoutMs)} after connect` : null,
      );
      step = handshake.receive(frame);
    } catch (err) {
      // Oversized or malformed frames before the keys exist end with a plaintext ERROR frame.
      if (err instanceof HashRelayError && (err.code === "TOO_LARGE" || err.code === "BAD_FRAME") && !(err instanceof HandshakeError)) {
        err = new HandshakeError(err.code, err.message, err.hint, errorFrame(err.code, err.message));
      }
      if (err instanceof HandshakeError && err.reply) {
        try {
          await connection.send(err.reply);
        } catch {
          // peer gone
        }
      }
      connection.close();
      throw err;
    }
    waitUntil = deadline;
    for (const out of step.send) await connection.send(out);
    if (step.session) {
      const channel = new SealedChannel(step.session.sendKey, step.session.recvKey);
      const session = Object.assign(new SecureSession(connection, channel, step.session.clientName, "client", step.session.version), {
        clientKey: step.session.clientKey,
      });
      await session.sendControl({ type: "welcome", client: step.session.clientName, serverTime: Date.now() });
      return session;
    }
  }
}

/** What a connection without a complete HELLO in time is told: a client slowed by load tries again; a stranger learns nothing. */
const LATE_HELLO_RETRY_MS = 1_000;

/**
 * The next frame if it comes before `until`; else TIMEOUT. With `late` (the HELLO's deadline), the
 * TIMEOUT says so and carries BUSY with a hint as its reply (PROTOCOL.md §3).
 */
async function receiveBefore(connection: Connection, until: number, late: string | null): Promise<Frame> {
  try {
    return await connection.receive(Math.max(1, until - Date.now()));
  } catch (err) {
    if (late && err instanceof HashRelayError && err.code === "TIMEOUT")
      throw new HandshakeError("TIMEOUT", late, "", busyFrame(`server busy: ${late}`, LATE_HELLO_RETRY_MS), { cause: err });
    throw err;
  }
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}
