// Deterministic randomness and identities for the protocol tests (never used by the program itself).
import { createHash } from "node:crypto";
import { identityFromSeed, type Identity } from "./identity.ts";

/** A reproducible random source: SHA-256 in counter mode over a label. */
export function seededRandom(label: string): (n: number) => Uint8Array {
  let counter = 0;
  return (n) => {
    const out = new Uint8Array(n);
    for (let at = 0; at < n; at += 32) {
      const block = createHash("sha256").update(`${label}/${counter++}`).digest();
      out.set(block.subarray(0, Math.min(32, n - at)), at);
    }
    return out;
  };
}

/** The identity whose seed is SHA-256(label). */
export function identityFor(label: string): Identity {
  return identityFromSeed(new Uint8Array(createHash("sha256").update(label).digest()));
}
