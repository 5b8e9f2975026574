// Raw deflate inflated into a given buffer: the whole stream or an error, never a silent short or long output.
import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { deflateRawSync } from "node:zlib";
import { RawInflater } from "./inflate-into.ts";

const text = new TextEncoder().encode("a line of text that repeats\n".repeat(4000));
const noise = new Uint8Array(randomBytes(70_000));

describe("RawInflater", () => {
  test("inflates streams one after another into the given buffer, at its start", () => {
    const inflater = new RawInflater();
    const out = new Uint8Array(200_000);
    expect(inflater.inflateInto(deflateRawSync(text), out.subarray(0, text.length + 1))).toBe(text.length);
    expect(out.subarray(0, text.length)).toEqual(text);
    expect(inflater.inflateInto(deflateRawSync(noise), out.subarray(5, 5 + noise.length + 1))).toBe(noise.length);
    expect(out.subarray(5, 5 + noise.length)).toEqual(noise);
  });

  test("corrupt, cut, trailed or too long a stream throws, and the next stream inflates", () => {
    const inflater = new RawInflater();
    const good = new Uint8Array(deflateRawSync(text));
    const out = new Uint8Array(text.length + 1);
    const corrupt = new Uint8Array(good);
    corrupt[5]! ^= 0xff;
    expect(() => inflater.inflateInto(corrupt, out)).toThrow();
    expect(() => inflater.inflateInto(good.subarray(0, good.length - 10), out)).toThrow();
    const trailed = new Uint8Array(good.length + 3);
    trailed.set(good);
    expect(() => inflater.inflateInto(trailed, out)).toThrow("3 bytes after the deflate stream");
    expect(() => inflater.inflateInto(good, out.subarray(0, text.length))).toThrow(`inflates to ${text.length} bytes or more`);
    expect(inflater.inflateInto(good, out)).toBe(text.length);
    expect(out.subarray(0, text.length)).toEqual(text);
  });
});
