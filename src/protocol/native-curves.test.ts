// The native Ed25519 and X25519 give tweetnacl's bytes (the wire must not change with the library) and refuse what it refuses.
import { describe, expect, test } from "bun:test";
import nacl from "tweetnacl";
import { ed25519Sign, ed25519Verify, x25519Public, x25519Shared } from "./native-curves.ts";
import { identityFor, seededRandom } from "./test-fixtures.ts";

describe("native curves", () => {
  const random = seededRandom("curves");

  test("Ed25519: the same signatures as tweetnacl, verified both ways; a flipped bit or another key does not verify", () => {
    for (let i = 0; i < 20; i++) {
      const id = identityFor(`signer ${i}`);
      const message = random(1 + i * 7);
      const signature = ed25519Sign(message, id.secretKey);
      expect(signature).toEqual(nacl.sign.detached(message, id.secretKey));
      expect(ed25519Verify(message, signature, id.publicKey)).toBe(true);
      const flipped = signature.slice();
      flipped[i % 64]! ^= 1;
      expect(ed25519Verify(message, flipped, id.publicKey)).toBe(false);
      expect(nacl.sign.detached.verify(message, flipped, id.publicKey)).toBe(false);
      expect(ed25519Verify(message, signature, identityFor("other").publicKey)).toBe(false);
    }
  });

  test("Ed25519 verify says false, never throws, for a signature or key of the wrong length or a key off the curve", () => {
    const id = identityFor("signer");
    const signature = ed25519Sign(new Uint8Array(3), id.secretKey);
    expect(ed25519Verify(new Uint8Array(3), signature.subarray(0, 63), id.publicKey)).toBe(false);
    expect(ed25519Verify(new Uint8Array(3), signature, id.publicKey.subarray(0, 31))).toBe(false);
    expect(ed25519Verify(new Uint8Array(3), signature, new Uint8Array(32).fill(0xff))).toBe(false);
  });

  test("X25519: the same public keys and shared secrets as tweetnacl", () => {
    for (let i = 0; i < 20; i++) {
      const a = random(32);
      const b = random(32);
      expect(x25519Public(a)).toEqual(nacl.scalarMult.base(a));
      const shared = x25519Shared(a, nacl.scalarMult.base(b));
      expect(shared).toEqual(nacl.scalarMult(a, nacl.scalarMult.base(b)));
      expect(shared).toEqual(x25519Shared(b, x25519Public(a)));
    }
  });

  test("X25519 with a low-order peer point (all-zero shared secret) is BAD_FRAME", () => {
    const lowOrder = ["00".repeat(32), `01${"00".repeat(31)}`, `ec${"ff".repeat(30)}7f`];
    for (const hex of lowOrder) {
      expect(() => x25519Shared(random(32), new Uint8Array(Buffer.from(hex, "hex")))).toThrow("all-zero shared secret");
    }
  });
});
