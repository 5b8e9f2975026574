// Frame codec: any split of a stream gives the same frames; limits hold before any body is allocated.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { HashRelayError } from "../errors.ts";
import { FrameType, MAX_CHUNK_FRAME, MAX_CONTROL_FRAME } from "./constants.ts";
import { encodeFrame, FrameDecoder, type Frame } from "./frame-codec.ts";

const KNOWN_TYPES = Object.values(FrameType);

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Feeds `stream` cut at `cuts` (sorted offsets) into a fresh decoder. */
function decodeSplit(stream: Uint8Array, cuts: number[]): Frame[] {
  const decoder = new FrameDecoder();
  const frames: Frame[] = [];
  let from = 0;
  for (const cut of [...cuts, stream.length]) {
    frames.push(...decoder.push(stream.subarray(from, cut)));
    from = cut;
  }
  expect(decoder.idle).toBe(true);
  return frames;
}

function expectCode(fn: () => unknown, code: string): HashRelayError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(HashRelayError);
    expect((err as HashRelayError).code).toBe(code as HashRelayError["code"]);
    return err as HashRelayError;
  }
  throw new Error(`expected ${code}, nothing was thrown`);
}

const frameArb = (maxBody: number) =>
  fc.record({
    type: fc.constantFrom(...KNOWN_TYPES),
    body: fc.uint8Array({ minLength: 0, maxLength: maxBody }),
  });

describe("encodeFrame", () => {
  test("writes u32 BE length (type + body) then the type byte", () => {
    const bytes = encodeFrame(FrameType.AUTH, new Uint8Array([0xaa, 0xbb, 0xcc]));
    expect([...bytes]).toEqual([0, 0, 0, 4, 0x02, 0xaa, 0xbb, 0xcc]);
  });

  test("refuses a body over its type's limit and an unknown type", () => {
    expectCode(() => encodeFrame(FrameType.SEALED_CONTROL, new Uint8Array(MAX_CONTROL_FRAME + 1)), "TOO_LARGE");
    expectCode(() => encodeFrame(0x7e, new Uint8Array(1)), "BAD_FRAME");
    expect(encodeFrame(FrameType.SEALED_CHUNK, new Uint8Array(MAX_CHUNK_FRAME)).length).toBe(MAX_CHUNK_FRAME + 5);
  });
});

describe("FrameDecoder splitting", () => {
  test("a small stream split at every byte offset, and byte by byte, gives the same frames", () => {
    fc.assert(
      fc.property(fc.array(frameArb(24), { minLength: 1, maxLength: 5 }), (frames) => {
        const stream = concat(frames.map((f) => encodeFrame(f.type, f.body)));
        const expected = frames.map((f) => ({ type: f.type, body: [...f.body] }));
        const normalize = (got: Frame[]) => got.map((f) => ({ type: f.type, body: [...f.body] }));
        for (let cut = 0; cut <= stream.length; cut++) {
          expect(normalize(decodeSplit(stream, [cut]))).toEqual(expected);
        }
        const everyByte = Array.from({ length: stream.length }, (_, i) => i);
        expect(normalize(decodeSplit(stream, everyByte))).toEqual(expected);
      }),
      { numRuns: 150 },
    );
  });

  test("a larger stream split at random offsets gives the same frames", () => {
    fc.assert(
      fc.property(
        fc.array(frameArb(5000), { minLength: 1, maxLength: 12 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 30 }),
        (frames, fractions) => {
          const stream = concat(frames.map((f) => encodeFrame(f.type, f.body)));
          const cuts = [...new Set(fractions.map((x) => Math.floor(x * stream.length)))].sort((a, b) => a - b);
          const got = decodeSplit(stream, cuts);
          expect(got.length).toBe(frames.length);
          got.forEach((f, i) => {
            expect(f.type).toBe(frames[i]!.type);
            expect(Buffer.from(f.body).equals(Buffer.from(frames[i]!.body))).toBe(true);
          });
        },
      ),
      { numRuns: 100 },
    );
  });

  test("a frame with an empty body is delivered", () => {
    expect(new FrameDecoder().push(encodeFrame(FrameType.SEALED_CONTROL, new Uint8Array(0)))).toEqual([
      { type: FrameType.SEALED_CONTROL, body: new Uint8Array(0) },
    ]);
  });
});

describe("FrameDecoder: who copies", () => {
  test("a body whole within one push views it; a body split across pushes is a copy of its own", () => {
    const a = encodeFrame(FrameType.SEALED_CHUNK, new Uint8Array(1000).fill(1));
    const b = encodeFrame(FrameType.SEALED_CHUNK, new Uint8Array(1000).fill(2));
    const stream = concat([a, b]);
    const decoder = new FrameDecoder();
    const whole = decoder.push(stream.slice(0, a.length + 10));
    expect(whole).toHaveLength(1);
    expect(whole[0]!.body.byteOffset).toBe(5);
    const rest = stream.slice(a.length + 10);
    const split = decoder.push(rest);
    // the split body is its own: the pushed bytes may be reused once push returned
    expect(split[0]!.body.buffer).not.toBe(rest.buffer);
    rest.fill(9);
    expect(split[0]!.body).toEqual(new Uint8Array(1000).fill(2));
  });

  test("frames out of one push keep their bytes while later pushes are decoded", () => {
    const decoder = new FrameDecoder();
    const held: Frame[] = [];
    for (let n = 0; n < 20; n++) {
      const frames = [0, 1, 2].map((k) => encodeFrame(FrameType.SEALED_CHUNK, new Uint8Array(300 + n).fill(3 * n + k)));
      held.push(...decoder.push(concat(frames)));
    }
    expect(held.map((f) => f.body[0])).toEqual(Array.from({ length: 60 }, (_, i) => i));
    for (const [i, frame] of held.entries()) expect(frame.body.every((byte) => byte === i)).toBe(true);
  });
});

describe("FrameDecoder limits", () => {
  test("a 4 GiB length prefix throws TOO_LARGE once the 5 header bytes are in, holding only those bytes", () => {
    const decoder = new FrameDecoder();
    expect(decoder.push(new Uint8Array([0xff, 0xff, 0xff, 0xff]))).toEqual([]);
    expect(decoder.buffered).toBe(4);
    const err = expectCode(() => decoder.push(new Uint8Array([FrameType.SEALED_CHUNK, 1, 2, 3])), "TOO_LARGE");
    expect(err.message).toContain("4294967294");
    expect(decoder.buffered).toBe(0);
  });

  test("the limit applies to the body, per type: exactly the limit is accepted, one more is not", () => {
    const header = (length: number, type: number) => {
      const h = new Uint8Array(5);
      new DataView(h.buffer).setUint32(0, length);
      h[4] = type;
      return h;
    };
    const atLimit = new FrameDecoder();
    expect(atLimit.push(header(MAX_CHUNK_FRAME + 1, FrameType.SEALED_CHUNK))).toEqual([]);
    expect(atLimit.buffered).toBe(MAX_CHUNK_FRAME);
    expectCode(() => new FrameDecoder().push(header(MAX_CHUNK_FRAME + 2, FrameType.SEALED_CHUNK)), "TOO_LARGE");
    // A chunk-sized body is fine for SEALED_CHUNK but a control frame allows 1 MiB, not more.
    expect(new FrameDecoder().push(header(MAX_CONTROL_FRAME + 1, FrameType.HELLO))).toEqual([]);
    expectCode(() => new FrameDecoder().push(header(MAX_CONTROL_FRAME + 2, FrameType.SEALED_NEED)), "TOO_LARGE");
  });

  test("length 0 and unknown types are BAD_FRAME, and the decoder stays failed", () => {
    const zero = new FrameDecoder();
    expectCode(() => zero.push(new Uint8Array([0, 0, 0, 0])), "BAD_FRAME");
    const again = expectCode(() => zero.push(encodeFrame(FrameType.AUTH, new Uint8Array(3))), "BAD_FRAME");
    expect(again.message).toContain("length 0");

    expectCode(() => new FrameDecoder().push(new Uint8Array([0, 0, 0, 1, 0x55])), "BAD_FRAME");
  });

  test("a bad header after good frames fails the stream from there", () => {
    const decoder = new FrameDecoder();
    const good = encodeFrame(FrameType.AUTH, new Uint8Array([1]));
    expect(decoder.push(good).length).toBe(1);
    expectCode(() => decoder.push(new Uint8Array([0, 0, 0, 2, 0x99, 0])), "BAD_FRAME");
  });

  test("random bytes only ever raise HashRelayError and never buffer past header + limit", () => {
    const smallLimit = 16;
    const limitOf = (type: number) => (type < 4 ? smallLimit : undefined);
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 0, maxLength: 40 }), { maxLength: 20 }), (pieces) => {
        const decoder = new FrameDecoder(limitOf);
        for (const piece of pieces) {
          try {
            for (const f of decoder.push(piece)) expect(f.body.length).toBeLessThanOrEqual(smallLimit);
          } catch (err) {
            expect(err).toBeInstanceOf(HashRelayError);
            expect(["BAD_FRAME", "TOO_LARGE"]).toContain((err as HashRelayError).code);
          }
          expect(decoder.buffered).toBeLessThanOrEqual(5 + smallLimit);
        }
      }),
      { numRuns: 500 },
    );
  });

  test("random bytes under the real limits never throw anything but HashRelayError", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const decoder = new FrameDecoder();
        try {
          decoder.push(bytes);
        } catch (err) {
          expect(err).toBeInstanceOf(HashRelayError);
        }
        expect(decoder.buffered).toBeLessThanOrEqual(5 + MAX_CONTROL_FRAME);
      }),
      { numRuns: 500 },
    );
  });
});
