// LAN discovery datagrams (PROTOCOL.md §13): the client's request and the server's signed answer, as bytes.
import { createHash } from "node:crypto";
import nacl from "tweetnacl";
import { sameBytes, type Identity } from "./identity.ts";

// ---- spec (PROTOCOL.md §13) ----
/** Magic at the start of every discovery datagram: ASCII "HRLD". */
export const DISCOVERY_MAGIC = new Uint8Array([0x48, 0x52, 0x4c, 0x44]);
export const DISCOVERY_VERSION = 1;
export const DiscoveryType = { REQUEST: 1, ANSWER: 2 } as const;
export const DISCOVERY_NONCE_BYTES = 32;
/** Answer: magic 4 | version 1 | type 1 | nonce 32 | identity 32 | tcp port u16 | signature 64. */
export const DISCOVERY_ANSWER_BYTES = 136;
/** Request: magic 4 | version 1 | type 1 | nonce 32 | zero padding to the answer's size, so an answer never amplifies. */
export const DISCOVERY_REQUEST_BYTES = DISCOVERY_ANSWER_BYTES;
/** Domain-separation label of the answer's signature (ASCII, no terminator). */
export const LABEL_DISCOVERY = "hashrelay/1 discovery";

const HEADER_BYTES = 6;

function header(type: number): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES);
  out.set(DISCOVERY_MAGIC, 0);
  out[4] = DISCOVERY_VERSION;
  out[5] = type;
  return out;
}

function hasHeader(packet: Uint8Array, type: number, size: number): boolean {
  if (packet.length !== size) return false;
  for (let i = 0; i < DISCOVERY_MAGIC.length; i++) if (packet[i] !== DISCOVERY_MAGIC[i]) return false;
  return packet[4] === DISCOVERY_VERSION && packet[5] === type;
}

/** The bytes the answer's signature covers: SHA-256(label | nonce | identity | port u16 BE). */
export function discoverySignedBytes(nonce: Uint8Array, identity: Uint8Array, port: number): Uint8Array {
  const portBytes = new Uint8Array([(port >> 8) & 0xff, port & 0xff]);
  return new Uint8Array(createHash("sha256").update(LABEL_DISCOVERY).update(nonce).update(identity).update(portBytes).digest());
}

/** A request carrying `nonce` (32 fresh random bytes from the caller). Throws RangeError on a wrong nonce size. */
export function encodeDiscoveryRequest(nonce: Uint8Array): Uint8Array {
  if (nonce.length !== DISCOVERY_NONCE_BYTES) throw new RangeError(`discovery nonce must be ${DISCOVERY_NONCE_BYTES} bytes`);
  const out = new Uint8Array(DISCOVERY_REQUEST_BYTES);
  out.set(header(DiscoveryType.REQUEST), 0);
  out.set(nonce, HEADER_BYTES);
  return out;
}

/** The nonce of a well-formed request (exact size, magic, version, type, zero padding); null for anything else. Never throws. */
export function decodeDiscoveryRequest(packet: Uint8Array): Uint8Array | null {
  if (!hasHeader(packet, DiscoveryType.REQUEST, DISCOVERY_REQUEST_BYTES)) return null;
  for (let i = HEADER_BYTES + DISCOVERY_NONCE_BYTES; i < packet.length; i++) if (packet[i] !== 0) return null;
  return packet.slice(HEADER_BYTES, HEADER_BYTES + DISCOVERY_NONCE_BYTES);
}

/** The server's answer to the request carrying `nonce`: its identity, its TCP port, signed. Throws RangeError on bad sizes or port. */
export function encodeDiscoveryAnswer(identity: Identity, nonce: Uint8Array, port: number): Uint8Array {
  if (nonce.length !== DISCOVERY_NONCE_BYTES) throw new RangeError(`discovery nonce must be ${DISCOVERY_NONCE_BYTES} bytes`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`port ${port} is out of range 1-65535`);
  const out = new Uint8Array(DISCOVERY_ANSWER_BYTES);
  let at = 0;
  out.set(header(DiscoveryType.ANSWER), at);
  at += HEADER_BYTES;
  out.set(nonce, at);
  at += DISCOVERY_NONCE_BYTES;
  out.set(identity.publicKey, at);
  at += 32;
  out[at++] = (port >> 8) & 0xff;
  out[at++] = port & 0xff;
  out.set(nacl.sign.detached(discoverySignedBytes(nonce, identity.publicKey, port), identity.secretKey), at);
  return out;
}

/**
 * The TCP port announced by an answer to the request carrying `nonce`, when the answer is well formed,
 * comes from `serverKey` and its signature verifies; null otherwise (another server, a replayed or altered answer). Never throws.
 */
export function verifyDiscoveryAnswer(packet: Uint8Array, nonce: Uint8Array, serverKey: Uint8Array): { port: number } | null {
  if (!hasHeader(packet, DiscoveryType.ANSWER, DISCOVERY_ANSWER_BYTES)) return null;
  let at = HEADER_BYTES;
  const answeredNonce = packet.subarray(at, at + DISCOVERY_NONCE_BYTES);
  at += DISCOVERY_NONCE_BYTES;
  const identity = packet.subarray(at, at + 32);
  at += 32;
  const port = (packet[at]! << 8) | packet[at + 1]!;
  at += 2;
  const signature = packet.subarray(at, at + 64);
  if (!sameBytes(answeredNonce, nonce) || !sameBytes(identity, serverKey) || port === 0) return null;
  return nacl.sign.detached.verify(discoverySignedBytes(nonce, identity, port), signature, serverKey) ? { port } : null;
}
