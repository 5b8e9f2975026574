import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { createHash } from "node:crypto";
import { deflateRawSync } from "node:zlib";
import { HashRelayError } from "../errors.ts";
import { BlockIndex, blocksOf, chunkDeltaOps, deltaPieces } from "./chunk-delta.ts";
import { applyContextDelta, decodeContextDelta, encodeContextDelta } from "./context-delta.ts";
import { chunkIdHex } from "./manifest.ts";

const idOf = (raw: Uint8Array) => new Uint8Array(createHash("sha256").update(raw).digest());

/** Source-like text, deterministic from a seed: indented lines of identifiers and numbers. */
function source(seed: number, size: number): Uint8Array {
  const words = ["static", "int", "buffer", "length", "return", "struct", "config", "value", "offset", "if", "const", "size_t", "errno"];
  let x = seed || 1;
  let out = "";
  while (out.length < size) {
    x = (x * 1103515245 + 12345) >>> 0;
    out += `${"  ".repeat(x % 3)}${words[x % words.length]} ${words[(x >>> 4) % words.length]}_${(x >>> 8) % 37} = ${(x >>> 12) % 64};\n`;
  }
  return new TextEncoder().encode(out.slice(0, size));
}

/** `base` with `lines` inserted at each of `at`. */
function edit(base: Uint8Array, at: number[], line: (i: number) => string): Uint8Array {
  const parts: Uint8Array[] = [];
  let from = 0;
  at.forEach((cut, i) => {
    parts.push(base.subarray(from, cut), new TextEncoder().encode(line(i)));
    from = cut;
  });
  parts.push(base.subarray(from));
  return new Uint8Array(Buffer.concat(parts));
}

/** Both encodings of `edited` against `base`, and the chunk the context delta rebuilds. */
function encodeBoth(base: Uint8Array, edited: Uint8Array) {
  const { pieces } = deltaPieces(blocksOf(idOf(edited), edited), new BlockIndex([blocksOf(idOf(base), base)]));
  const context = encodeContextDelta(edited, pieces);
  const plain = deflateRawSync(chunkDeltaOps(edited, pieces));
  const held = (id: Uint8Array) => (chunkIdHex(id) === chunkIdHex(idOf(base)) ? base : null);
  const rebuilt = applyContextDelta(decodeContextDelta(context, edited.length), edited.length, held);
  return { context, plain, rebuilt, held };
}

describe("context deltas", () => {
  test("any insertion into a chunk rebuilds byte for byte", () => {
    const base = source(7, 48 * 1024);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: base.length }), { minLength: 1, maxLength: 4 }), fc.string(), (cuts, extra) => {
        const edited = edit(
          base,
          [...cuts].sort((a, b) => a - b),
          (i) => `${extra}${i}\n`,
        );
        const { rebuilt } = encodeBoth(base, edited);
        expect(Buffer.from(rebuilt).equals(Buffer.from(edited))).toBe(true);
      }),
      { numRuns: 40 },
    );
  });

  test("three edits far apart cost at least a fifth less than their blocks deflated in one stream without context", () => {
    const base = source(11, 64 * 1024);
    const edited = edit(base, [9_000, 31_000, 55_000], (i) => `  return offset_${i} = 17;\n`);
    const { context, plain, rebuilt } = encodeBoth(base, edited);
    expect(Buffer.from(rebuilt).equals(Buffer.from(edited))).toBe(true);
    expect(context.length).toBeLessThan(0.8 * plain.length);
  });

  test("malformed bodies are BAD_FRAME; a forged copy source is HASH_MISMATCH; a forged literal rebuilds other bytes", () => {
    const base = source(5, 20_000);
    const edited = edit(base, [10_000], () => "changed\n");
    const { context, held } = encodeBoth(base, edited);
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        return err instanceof HashRelayError ? err.code : String(err);
      }
      return "no error";
    };
    expect(code(() => decodeContextDelta(context.subarray(0, 3), edited.length))).toBe("BAD_FRAME");
    expect(code(() => decodeContextDelta(context, edited.length + 1))).toBe("BAD_FRAME");
    expect(code(() => decodeContextDelta(new Uint8Array([...context, 0]), edited.length))).toBe("BAD_FRAME");
    expect(code(() => decodeContextDelta(context.subarray(0, context.length - 1), edited.length))).toBe("BAD_FRAME");
    const delta = decodeContextDelta(context, edited.length);
    expect(code(() => applyContextDelta(delta, edited.length, () => null))).toBe("HASH_MISMATCH");
    // the literal stream primed with another dictionary: bytes come out, but not the edited ones
    const forged = decodeContextDelta(context, edited.length);
    forged.literals[0]!.stream = deflateRawSync(Buffer.alloc(forged.literals[0]!.length, 0x41));
    const rebuilt = applyContextDelta(forged, edited.length, held);
    expect(chunkIdHex(idOf(rebuilt))).not.toBe(chunkIdHex(idOf(edited)));
  });

  test("version 3: compact ops (a copy by its place in the base, varints) rebuild the chunk; without a base they are unknown ops", () => {
    const base = source(11, 32 * 1024);
    const edited = edit(base, [9_000, 20_000], (i) => `inserted ${i}\n`);
    const { pieces } = deltaPieces(blocksOf(idOf(edited), edited), new BlockIndex([blocksOf(idOf(base), base)]));
    const byId = encodeContextDelta(edited, pieces);
    const byPlace = encodeContextDelta(edited, pieces, () => 5);
    expect(byPlace.length).toBeLessThan(byId.length - 20);
    const held = (id: Uint8Array) => (chunkIdHex(id) === chunkIdHex(idOf(base)) ? base : null);
    const baseId = (i: number) => (i === 5 ? idOf(base) : undefined);
    const rebuilt = applyContextDelta(decodeContextDelta(byPlace, edited.length, baseId), edited.length, held);
    expect(Buffer.from(rebuilt).equals(Buffer.from(edited))).toBe(true);
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        return err instanceof HashRelayError ? `${err.code} ${err.message}` : String(err);
      }
      return "no error";
    };
    expect(code(() => decodeContextDelta(byPlace, edited.length))).toBe("BAD_FRAME context delta: unknown op 0x4");
    expect(code(() => decodeContextDelta(byPlace, edited.length, () => undefined))).toBe(
      "BAD_FRAME context delta: a copy from base entry 5, past the base",
    );
    // compact ops, hand-made: a place before the base's start, a varint cut short, one of 2^32 or more
    const body = (...ops: number[]) => {
      const packed = deflateRawSync(Uint8Array.from(ops));
      const out = new Uint8Array(4 + packed.length);
      new DataView(out.buffer).setUint32(0, packed.length);
      out.set(packed, 4);
      return out;
    };
    const anyBase = () => idOf(base);
    expect(code(() => decodeContextDelta(body(0x04, 1, 0, 10), 10, anyBase))).toBe(
      "BAD_FRAME context delta: a copy from base entry -1, past the base",
    );
    expect(code(() => decodeContextDelta(body(0x04, 0, 1, 10), 10, anyBase))).toBe(
      "BAD_FRAME context delta: a copy from before its chunk's start",
    );
    expect(code(() => decodeContextDelta(body(0x04, 0, 0, 0x80), 10, anyBase))).toBe("BAD_FRAME context delta: a varint cut by the end");
    expect(code(() => decodeContextDelta(body(0x05, 0xff, 0xff, 0xff, 0xff, 0x7f, 1), 10, anyBase))).toBe(
      "BAD_FRAME context delta: a varint of 2^32 or more",
    );
    expect(decodeContextDelta(body(0x04, 0, 0, 10), 10, anyBase).copies).toEqual([{ at: 0, id: idOf(base), offset: 0, length: 10 }]);
  });
});
