// The handshake's bytes: the HELLO layout, the transcript hash, AUTH signatures and session keys (PROTOCOL.md §4.1-4.4).
import { createHash, hkdfSync } from "node:crypto";
import nacl from "tweetnacl";
import { HashRelayError } from "../errors.ts";
import { AUTH_BYTES, FrameType, HELLO_BYTES, LABEL_AUTH, LABEL_SESSION_KEYS, LABEL_TRANSCRIPT, MAGIC } from "./constants.ts";
import type { RoleValue } from "./constants.ts";
import type { Frame } from "./frame-codec.ts";
import { sameBytes, type Identity } from "./identity.ts";

/** Source of randomness; must return exactly n fresh random bytes. */
export type RandomSource = (n: number) => Uint8Array;

export interface Hello {
  /** The protocol version the HELLO carries (byte 4). */
  version: number;
  role: RoleValue;
  identity: Uint8Array;
  ephemeral: Uint8Array;
  nonce: Uint8Array;
}

/** This side's HELLO body and the ephemeral secret behind it. */
export interface Ephemeral {
  secret: Uint8Array;
  hello: Uint8Array;
}

const encoder = new TextEncoder();

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
  return concat(MAGIC, new Uint8Array([hello.version, hello.role]), hello.identity, hello.ephemeral, hello.nonce);
}

/**
 * Parses a HELLO body. Magic and version come first so that a peer of another version is told so
 * whatever its HELLO looks like: bad magic → BAD_FRAME, a version not in `versions` → VERSION, then
 * length and role → BAD_FRAME.
 */
export function decodeHello(body: Uint8Array, expectedRole: RoleValue, versions: readonly number[]): Hello {
  if (body.length < 5 || !sameBytes(body.subarray(0, 4), MAGIC)) {
    throw new HashRelayError("BAD_FRAME", 'HELLO does not start with the magic "HRLY": not a HashRelay peer');
  }
  if (!versions.includes(body[4]!)) {
    throw new HashRelayError("VERSION", `peer speaks protocol ${body[4]}, this side speaks ${versions.join(" and ")}`);
  }
  if (body.length !== HELLO_BYTES) {
    throw new HashRelayError("BAD_FRAME", `HELLO of ${body.length} bytes, expected ${HELLO_BYTES}`);
  }
  if (body[5] !== expectedRole) {
    throw new HashRelayError("BAD_FRAME", `HELLO carries role ${body[5]}, expected ${expectedRole}`);
  }
  return {
    version: body[4]!,
    role: expectedRole,
    identity: body.slice(6, 38),
    ephemeral: body.slice(38, 70),
    nonce: body.slice(70, 102),
  };
}

/** The first 7 bytes of a fallback HELLO's nonce (PROTOCOL.md §12); the 8th is the newest version the client speaks. */
const FALLBACK_MARK = Uint8Array.from([0x48, 0x52, 0x46, 0x42, 0, 0, 0]); // "HRFB" 00 00 00

/**
 * A fresh ephemeral secret and nonce from `random` (secret first), and the HELLO body of `version` that
 * carries them. `fallbackFrom`: the newest version this client speaks, when this HELLO follows a VERSION
 * refusal of it (§12): the nonce's first 8 bytes then say so (its other 24 stay random).
 */
export function makeHello(identity: Identity, role: RoleValue, random: RandomSource, version: number, fallbackFrom?: number): Ephemeral {
  const secret = take(random, 32);
  const ephemeral = nacl.scalarMult.base(secret);
  const nonce = take(random, 32).slice();
  if (fallbackFrom !== undefined) {
    nonce.set(FALLBACK_MARK);
    nonce[FALLBACK_MARK.length] = fallbackFrom;
  }
  return { secret, hello: encodeHello({ version, role, identity: identity.publicKey, ephemeral, nonce }) };
}

/** The newest version a client speaks when `hello` is its fallback HELLO (its nonce carries the mark of §12), else undefined. */
export function fallbackFrom(hello: Hello): number | undefined {
  return sameBytes(hello.nonce.subarray(0, FALLBACK_MARK.length), FALLBACK_MARK) ? hello.nonce[FALLBACK_MARK.length] : undefined;
}

export function transcriptHash(clientHello: Uint8Array, serverHello: Uint8Array): Uint8Array {
  const hash = createHash("sha256");
  hash.update(encoder.encode(LABEL_TRANSCRIPT));
  hash.update(clientHello);
  hash.update(serverHello);
  return new Uint8Array(hash.digest());
}

function authMessage(role: RoleValue, th: Uint8Array): Uint8Array {
  return concat(encoder.encode(LABEL_AUTH), new Uint8Array([role]), th);
}

export function signAuth(identity: Identity, role: RoleValue, th: Uint8Array): Frame {
  return { type: FrameType.AUTH, body: nacl.sign.detached(authMessage(role, th), identity.secretKey) };
}

/**
 * Whether an AUTH body is `signer`'s signature over `th` for `role`. An AUTH of another length is a
 * malformed frame, not a failed authentication (PROTOCOL.md §4.3): BAD_FRAME, before any check of who signed.
 */
export function verifyAuth(body: Uint8Array, role: RoleValue, th: Uint8Array, signer: Uint8Array): boolean {
  if (body.length !== AUTH_BYTES) throw new HashRelayError("BAD_FRAME", `AUTH of ${body.length} bytes, expected ${AUTH_BYTES}`);
  return nacl.sign.detached.verify(authMessage(role, th), body, signer);
}

/** X25519 then HKDF-SHA256(ikm = shared, salt = th, info = label) → [client→server key, server→client key]. Throws BAD_FRAME on a low-order point. */
export function deriveKeys(ephemeralSecret: Uint8Array, peerEphemeral: Uint8Array, th: Uint8Array): [Uint8Array, Uint8Array] {
  const shared = nacl.scalarMult(ephemeralSecret, peerEphemeral);
  if (shared.every((b) => b === 0)) {
    throw new HashRelayError("BAD_FRAME", "peer ephemeral key gives an all-zero shared secret (low-order point)");
  }
  const okm = new Uint8Array(hkdfSync("sha256", shared, th, LABEL_SESSION_KEYS, 64));
  return [okm.slice(0, 32), okm.slice(32, 64)];
}
