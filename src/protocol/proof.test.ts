import { describe, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import fc from "fast-check";
import { answerMatches, missProbability, pickChallenges, proofAnswer, proofNonce, proofTokens } from "./proof.ts";
import { GMAC_FIRST_ROUND, PROOF_TOKEN_BYTES } from "./constants.ts";

const secret = new Uint8Array(32).fill(7);
const id = new Uint8Array(createHash("sha256").update("chunk").digest());

describe("challenge answers", () => {
  test("the answer is SHA-256 of nonce then raw bytes, as any implementation can compute it", () => {
    const nonce = randomBytes(32);
    const raw = randomBytes(1000);
    const expected = createHash("sha256")
      .update(Buffer.concat([nonce, raw]))
      .digest();
    expect(Buffer.from(proofAnswer(nonce, raw)).equals(expected)).toBe(true);
  });

  test("from GMAC_FIRST_ROUND on the answer is SHA-256 of the GMAC tag: nonce as AES-256 key, 12 zero bytes of IV, raw as data", () => {
    // NIST GCM test case 13 (AES-256, zero key and IV, nothing to authenticate): tag 530f8afb…738b
    const tag = Buffer.from("530f8afbc74536b9a963b4f1c4cb738b", "hex");
    expect(Buffer.from(proofAnswer(new Uint8Array(32), new Uint8Array(0), true)).equals(createHash("sha256").update(tag).digest())).toBe(
      true,
    );
    const raw = randomBytes(70_000);
    const tokens = proofTokens(secret, id, raw, GMAC_FIRST_ROUND - 1, 2);
    const nonceSha = proofNonce(secret, id, GMAC_FIRST_ROUND - 1);
    const nonceGmac = proofNonce(secret, id, GMAC_FIRST_ROUND);
    expect(answerMatches(proofAnswer(nonceSha, raw), tokens.subarray(0, PROOF_TOKEN_BYTES))).toBe(true);
    expect(answerMatches(proofAnswer(nonceGmac, raw, true), tokens.subarray(PROOF_TOKEN_BYTES))).toBe(true);
    expect(answerMatches(proofAnswer(nonceGmac, raw), tokens.subarray(PROOF_TOKEN_BYTES))).toBe(false);
    const flipped = Buffer.from(raw);
    flipped[65_000]! ^= 0x80;
    expect(answerMatches(proofAnswer(nonceGmac, flipped, true), tokens.subarray(PROOF_TOKEN_BYTES))).toBe(false);
    expect(answerMatches(proofAnswer(nonceGmac, raw.subarray(0, 69_999), true), tokens.subarray(PROOF_TOKEN_BYTES))).toBe(false);
  });

  test("nonces differ per round, per chunk and per secret, and repeat for the same inputs", () => {
    const a = Buffer.from(proofNonce(secret, id, 0)).toString("hex");
    expect(Buffer.from(proofNonce(secret, id, 0)).toString("hex")).toBe(a);
    expect(Buffer.from(proofNonce(secret, id, 1)).toString("hex")).not.toBe(a);
    expect(Buffer.from(proofNonce(new Uint8Array(32).fill(8), id, 0)).toString("hex")).not.toBe(a);
    expect(Buffer.from(proofNonce(secret, new Uint8Array(32), 0)).toString("hex")).not.toBe(a);
  });

  test("a kept token matches the honest answer and no answer over other bytes", () => {
    const raw = randomBytes(4096);
    const tokens = proofTokens(secret, id, raw, 5, 3);
    expect(tokens.length).toBe(3 * PROOF_TOKEN_BYTES);
    for (let round = 5; round < 8; round++) {
      const token = tokens.subarray((round - 5) * PROOF_TOKEN_BYTES, (round - 4) * PROOF_TOKEN_BYTES);
      const nonce = proofNonce(secret, id, round);
      expect(answerMatches(proofAnswer(nonce, raw), token)).toBe(true);
      const flipped = Buffer.from(raw);
      flipped[1234]! ^= 1;
      expect(answerMatches(proofAnswer(nonce, flipped), token)).toBe(false);
      expect(answerMatches(proofAnswer(nonce, raw.subarray(0, 4000)), token)).toBe(false);
      // an answer to another round's nonce (a cached old answer) does not match
      expect(answerMatches(proofAnswer(proofNonce(secret, id, round + 1), raw), token)).toBe(false);
    }
    expect(answerMatches(new Uint8Array(8), tokens.subarray(0, PROOF_TOKEN_BYTES))).toBe(false);
  });
});

describe("pickChallenges", () => {
  test("deep and small archives challenge every member", () => {
    expect(pickChallenges(5, false, () => 0)).toEqual([0, 1, 2, 3, 4]);
    expect(pickChallenges(1000, true, () => 0)).toHaveLength(1000);
    expect(pickChallenges(0, true, () => 0)).toEqual([]);
  });

  test("a sample always holds the first and the last member, distinct sorted indexes in range", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 100_000 }), fc.integer({ min: 0, max: 2 ** 31 }), (chunks, seed) => {
        let state = seed;
        const random = (n: number) => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) % n;
        const picked = pickChallenges(chunks, false, random, 32);
        expect(picked[0]).toBe(0);
        expect(picked.at(-1)).toBe(chunks - 1);
        expect(new Set(picked).size).toBe(picked.length);
        expect(picked.length).toBe(Math.min(chunks, 34));
        for (let i = 1; i < picked.length; i++) expect(picked[i]!).toBeGreaterThan(picked[i - 1]!);
      }),
      { numRuns: 200 },
    );
  });

  test("the miss probability of a sample shrinks with the damage", () => {
    expect(missProbability(100, 0, 34)).toBe(1);
    expect(missProbability(100, 100, 1)).toBe(0);
    // 34 of 1000 members, 10 damaged: missed about 70% of the time; 100 damaged: 2.6%
    expect(missProbability(1000, 10, 34)).toBeCloseTo(0.707, 2);
    expect(missProbability(1000, 100, 34)).toBeLessThan(0.03);
  });
});
