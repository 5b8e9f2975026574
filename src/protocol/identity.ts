// Ed25519 identities: the "ed25519:<base64>" public form and the private key file's text form.
import { timingSafeEqual } from "node:crypto";
import nacl from "tweetnacl";
import { HashRelayError } from "../errors.ts";

export interface Identity {
  /** 32-byte Ed25519 public key. */
  publicKey: Uint8Array;
  /** 64-byte tweetnacl secret key (seed + public key). */
  secretKey: Uint8Array;
}

const PUBLIC_PREFIX = "ed25519:";
const SECRET_PREFIX = "hashrelay-ed25519-seed:";

/** "ed25519:<base64 of 32 bytes>". */
export function formatPublicKey(publicKey: Uint8Array): string {
  return PUBLIC_PREFIX + Buffer.from(publicKey).toString("base64");
}

/** Parses "ed25519:<base64>"; returns null (never throws) when the text is not exactly 32 bytes of standard base64. */
export function parsePublicKey(text: string): Uint8Array | null {
  if (!text.startsWith(PUBLIC_PREFIX)) return null;
  const b64 = text.slice(PUBLIC_PREFIX.length);
  if (!/^[A-Za-z0-9+/]{43}=$/.test(b64)) return null;
  const bytes = new Uint8Array(Buffer.from(b64, "base64"));
  return bytes.length === 32 ? bytes : null;
}

/** New identity from a 32-byte seed (the caller supplies randomness, so this stays pure). */
export function identityFromSeed(seed: Uint8Array): Identity {
  const pair = nacl.sign.keyPair.fromSeed(seed);
  return { publicKey: pair.publicKey, secretKey: pair.secretKey };
}

/** The private key file's text: a comment line and the base64 seed. */
export function formatSecretKeyFile(identity: Identity): string {
  const seed = identity.secretKey.subarray(0, 32);
  return (
    "# HashRelay Ed25519 private key. Keep it secret: mode 0600, owned by the service user.\n" +
    `# public: ${formatPublicKey(identity.publicKey)}\n` +
    `${SECRET_PREFIX}${Buffer.from(seed).toString("base64")}\n`
  );
}

/** Parses the private key file's text; throws KEY with the file named. */
export function parseSecretKeyFile(text: string, file: string): Identity {
  const line = text.split("\n").find((l) => l.startsWith(SECRET_PREFIX));
  const seed = line ? new Uint8Array(Buffer.from(line.slice(SECRET_PREFIX.length).trim(), "base64")) : null;
  if (!seed || seed.length !== 32) {
    throw new HashRelayError("KEY", `${file}: not a HashRelay private key`, `create one with: hashrelay keygen --out ${file}`);
  }
  return identityFromSeed(seed);
}

/** True when `a` and `b` hold the same bytes; compared in constant time (keys, nonces, magic). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
