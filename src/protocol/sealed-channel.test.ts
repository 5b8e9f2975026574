// Sealed channel: round trip, and every replayed, reordered, altered or retyped frame is refused for good.
import { describe, expect, test } from "bun:test";
import { createCipheriv } from "node:crypto";
import fc from "fast-check";
import { HashRelayError } from "../errors.ts";
import { FrameType, MAX_CHUNK_FRAME } from "./constants.ts";
import { FrameDecoder, type Frame } from "./frame-codec.ts";
import { MAX_COUNTER, SealedChannel } from "./sealed-channel.ts";

const keyA = new Uint8Array(32).fill(0x11);
const keyB = new Uint8Array(32).fill(0x22);
const text = (s: string) => new TextEncoder().encode(s);

/** A connected pair: a seals with keyA, b opens with keyA (and the reverse with keyB). */
function pair() {
  return { a: new SealedChannel(keyA, keyB), b: new SealedChannel(keyB, keyA) };
}

function expectAuthFailure(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(HashRelayError);
    expect((err as HashRelayError).code).toBe("BAD_FRAME");
    expect((err as HashRelayError).message).toBe("frame failed authentication (replayed, reordered or altered)");
    return;
  }
  throw new Error("expected the frame to be refused");
}

function altered(frame: Frame, byte: number): Frame {
  const body = frame.body.slice();
  body[byte]! ^= 0x01;
  return { type: frame.type, body };
}

describe("SealedChannel", () => {
  test("sealToBytes writes whole frames a decoder reads back and the peer opens, in the same counter sequence as seal", () => {
    const { a, b } = pair();
    const decoder = new FrameDecoder();
    const plaintexts = [text("first"), new Uint8Array(70_000).fill(7), text("")];
    // seal and sealToBytes share one counter: interleaving them must still open in order
    const wire = [a.sealToBytes(FrameType.SEALED_CHUNK, plaintexts[0]!), a.sealToBytes(FrameType.SEALED_CONTROL, plaintexts[1]!)];
    const frames = decoder.push(new Uint8Array(Buffer.concat(wire)));
    frames.push(a.seal(FrameType.SEALED_NEED, plaintexts[2]!));
    expect(frames.map((f) => f.type)).toEqual([FrameType.SEALED_CHUNK, FrameType.SEALED_CONTROL, FrameType.SEALED_NEED]);
    expect(frames.map((f) => b.open(f))).toEqual(plaintexts);
    expect(() => a.sealToBytes(FrameType.HELLO, text("x"))).toThrow(/not a sealed type/);
  });

  test("frames round-trip in both directions and the ciphertext hides the plaintext", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { minLength: 1, maxLength: 8 }), (plaintexts) => {
        const { a, b } = pair();
        for (const p of plaintexts) {
          const frame = a.seal(FrameType.SEALED_CHUNK, p);
          expect(frame.body.length).toBe(p.length + 16);
          expect(b.open(frame)).toEqual(p);
          const back = b.seal(FrameType.SEALED_NEED, p);
          expect(a.open(back)).toEqual(p);
        }
      }),
      { numRuns: 50 },
    );
    const { a } = pair();
    const secret = text("a rather recognisable plaintext");
    expect(Buffer.from(a.seal(FrameType.SEALED_CONTROL, secret).body).includes(Buffer.from(secret))).toBe(false);
  });

  test("the wire layout is AES-256-GCM, nonce = 4 zero bytes || u64 BE counter, AAD = type byte, body = ct || tag", () => {
    // Built by hand from PROTOCOL.md, not by seal(): frame 1 of a direction uses counter 1.
    const byHand = (counter: number, type: number, plaintext: Uint8Array): Frame => {
      const nonce = new Uint8Array(12);
      nonce[11] = counter;
      const cipher = createCipheriv("aes-256-gcm", keyA, nonce);
      cipher.setAAD(new Uint8Array([type]));
      const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      return { type, body: new Uint8Array(Buffer.concat([ct, cipher.getAuthTag()])) };
    };
    const { a, b } = pair();
    expect(b.open(byHand(0, FrameType.SEALED_CONTROL, text("zero")))).toEqual(text("zero"));
    expect(b.open(byHand(1, FrameType.SEALED_NEED, text("one")))).toEqual(text("one"));
    a.seal(FrameType.SEALED_CONTROL, text("zero"));
    expect(a.seal(FrameType.SEALED_NEED, text("one"))).toEqual(byHand(1, FrameType.SEALED_NEED, text("one")));
  });

  test("the same plaintext sealed twice gives different bodies (the counter advances)", () => {
    const { a } = pair();
    const one = a.seal(FrameType.SEALED_CONTROL, text("ping"));
    const two = a.seal(FrameType.SEALED_CONTROL, text("ping"));
    expect(one.body).not.toEqual(two.body);
  });

  test("a replayed frame is refused, and the channel stays failed", () => {
    const { a, b } = pair();
    const frame = a.seal(FrameType.SEALED_CONTROL, text("commit"));
    b.open(frame);
    expectAuthFailure(() => b.open(frame));
    // Even the genuine next frame no longer opens.
    expectAuthFailure(() => b.open(a.seal(FrameType.SEALED_CONTROL, text("bye"))));
  });

  test("reordered frames are refused", () => {
    const { a, b } = pair();
    const first = a.seal(FrameType.SEALED_CHUNK, text("first"));
    const second = a.seal(FrameType.SEALED_CHUNK, text("second"));
    expectAuthFailure(() => b.open(second));
    expectAuthFailure(() => b.open(first));
  });

  test("a dropped frame makes the next one fail", () => {
    const { a, b } = pair();
    a.seal(FrameType.SEALED_CHUNK, text("lost"));
    expectAuthFailure(() => b.open(a.seal(FrameType.SEALED_CHUNK, text("next"))));
  });

  test("a flipped bit anywhere in ciphertext or tag is refused", () => {
    const frame = pair().a.seal(FrameType.SEALED_MANIFEST, text("0123456789abcdef"));
    for (let byte = 0; byte < frame.body.length; byte++) {
      const { b } = pair();
      expectAuthFailure(() => b.open(altered(frame, byte)));
    }
  });

  test("a frame relabelled with another sealed type is refused (the type byte is authenticated)", () => {
    const { a, b } = pair();
    const frame = a.seal(FrameType.SEALED_NEED, text("need"));
    expectAuthFailure(() => b.open({ type: FrameType.SEALED_CHUNK, body: frame.body }));
  });

  test("truncated bodies, plaintext types and the wrong direction's key are refused", () => {
    const { a } = pair();
    const frame = a.seal(FrameType.SEALED_CONTROL, text("x"));
    expectAuthFailure(() => pair().b.open({ type: frame.type, body: frame.body.subarray(0, 15) }));
    expectAuthFailure(() => pair().b.open({ type: FrameType.HELLO, body: frame.body }));
    expectAuthFailure(() => pair().a.open(frame));
  });

  test("seal refuses plaintext types and bodies over the frame limit", () => {
    const { a } = pair();
    expect(() => a.seal(FrameType.HELLO, text("x"))).toThrow(HashRelayError);
    let err: unknown;
    try {
      a.seal(FrameType.SEALED_CHUNK, new Uint8Array(MAX_CHUNK_FRAME - 15));
    } catch (e) {
      err = e;
    }
    expect((err as HashRelayError).code).toBe("TOO_LARGE");
    expect(a.seal(FrameType.SEALED_CHUNK, new Uint8Array(MAX_CHUNK_FRAME - 16)).body.length).toBe(MAX_CHUNK_FRAME);
  });

  test("after the last counter value, sealing throws instead of reusing a nonce", () => {
    const a = new SealedChannel(keyA, keyB, { firstCounter: MAX_COUNTER });
    const b = new SealedChannel(keyB, keyA, { firstCounter: MAX_COUNTER });
    expect(b.open(a.seal(FrameType.SEALED_CONTROL, text("last")))).toEqual(text("last"));
    expect(() => a.seal(FrameType.SEALED_CONTROL, text("one too many"))).toThrow("counter exhausted");
  });

  test("a failed open leaves the sending direction usable, so an error can still be sent", () => {
    const { a, b } = pair();
    expectAuthFailure(() => b.open({ type: FrameType.SEALED_CONTROL, body: new Uint8Array(40) }));
    expect(a.open(b.seal(FrameType.SEALED_CONTROL, text("error")))).toEqual(text("error"));
  });
});
