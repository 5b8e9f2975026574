// Proof of storage: the client's secret nonces, the answer only the chunk's bytes can produce, and which chunks to challenge.
import { createCipheriv, createHash, createHmac } from "node:crypto";
import { GMAC_FIRST_ROUND, LABEL_PROOF_NONCE, PROOF_NONCE_BYTES, PROOF_SAMPLE, PROOF_TOKEN_BYTES } from "./constants.ts";

const encoder = new TextEncoder();

/**
 * The nonce of challenge `round` over chunk `chunkId`: HMAC-SHA-256(secret, label ‖ id ‖ u32 round).
 * Unpredictable without `secret` (which never leaves the client), so the server cannot answer a
 * challenge before it is asked, and a round is spent once asked.
 */
export function proofNonce(secret: Uint8Array, chunkId: Uint8Array, round: number): Uint8Array {
  const counter = new Uint8Array(4);
  new DataView(counter.buffer).setUint32(0, round, false);
  const mac = createHmac("sha256", secret).update(encoder.encode(LABEL_PROOF_NONCE)).update(chunkId).update(counter).digest();
  return new Uint8Array(mac.buffer, mac.byteOffset, PROOF_NONCE_BYTES);
}

/**
 * What the server must answer, raw being the chunk's uncompressed bytes: with `gmac`, SHA-256 of the
 * GMAC tag of raw under the nonce as key (AES-256-GCM, 12 zero bytes of IV, raw as additional data,
 * nothing to encrypt), one AES-NI/PCLMUL pass about ten times cheaper than SHA-256's; else SHA-256(nonce ‖ raw).
 */
export function proofAnswer(nonce: Uint8Array, raw: Uint8Array, gmac = false): Uint8Array {
  let digest: Buffer;
  if (gmac) {
    const cipher = createCipheriv("aes-256-gcm", nonce, GMAC_IV);
    cipher.setAAD(raw);
    cipher.final();
    digest = createHash("sha256").update(cipher.getAuthTag()).digest();
  } else digest = createHash("sha256").update(nonce).update(raw).digest();
  return new Uint8Array(digest.buffer, digest.byteOffset, digest.length);
}

const GMAC_IV = new Uint8Array(12);

/** Whether round `round` is answered with GMAC: every round from GMAC_FIRST_ROUND on. */
export const isGmacRound = (round: number) => round >= GMAC_FIRST_ROUND;

/** The answers to rounds first … first+count-1 that the client keeps: each answer's first PROOF_TOKEN_BYTES, concatenated. */
export function proofTokens(secret: Uint8Array, chunkId: Uint8Array, raw: Uint8Array, first: number, count: number): Uint8Array {
  const out = new Uint8Array(count * PROOF_TOKEN_BYTES);
  for (let i = 0; i < count; i++) {
    const round = first + i;
    out.set(proofAnswer(proofNonce(secret, chunkId, round), raw, isGmacRound(round)).subarray(0, PROOF_TOKEN_BYTES), i * PROOF_TOKEN_BYTES);
  }
  return out;
}

/** True when the server's answer (32 bytes) starts with the kept token. */
export function answerMatches(answer: Uint8Array, token: Uint8Array): boolean {
  if (answer.length < token.length) return false;
  let diff = 0;
  for (let i = 0; i < token.length; i++) diff |= answer[i]! ^ token[i]!;
  return diff === 0;
}

/**
 * The member indexes to challenge in an archive of `chunks` members, ascending: every one when `deep`,
 * else the first, the last (a truncated file loses its end) and `sample` others drawn with `random`
 * (a function returning integers in [0, n)). Pure given `random`.
 */
export function pickChallenges(chunks: number, deep: boolean, random: (n: number) => number, sample = PROOF_SAMPLE): number[] {
  if (chunks === 0) return [];
  if (deep || chunks <= sample + 2) return Array.from({ length: chunks }, (_, i) => i);
  const picked = new Set<number>([0, chunks - 1]);
  while (picked.size < sample + 2) picked.add(random(chunks));
  return [...picked].sort((a, b) => a - b);
}

/** Chance that a sample of `sampled` distinct members out of `chunks` misses every one of `damaged` damaged members. */
export function missProbability(chunks: number, damaged: number, sampled: number): number {
  let p = 1;
  for (let i = 0; i < sampled; i++) p *= Math.max(0, chunks - damaged - i) / (chunks - i);
  return p;
}
