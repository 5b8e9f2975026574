import { describe, expect, spyOn, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deflateRawSync, inflateRawSync, inflateSync } from "node:zlib";
import { deflateRaw, storedDeflate, storedLength } from "./compress.ts";
import { encodeGzipMember } from "../archive/gzip-member.ts";

const text = new TextEncoder().encode(Array.from({ length: 4000 }, (_, i) => `line ${i}: proof > payload\n`).join(""));

describe("deflateRaw", () => {
  test("produces RAW deflate (no zlib wrapper) that inflates back, and compresses", () => {
    const out = deflateRaw(text);
    expect(Buffer.from(inflateRawSync(out)).equals(Buffer.from(text))).toBe(true);
    expect(() => inflateSync(out)).toThrow();
    expect(out.length).toBeLessThan(text.length / 4);
  });

  test("costs at most 1% more than gzip -6 per 64 KiB chunk of real source code (this repository's)", () => {
    const files: string[] = [];
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(dir, e.name));
        else if (e.name.endsWith(".ts")) files.push(join(dir, e.name));
      }
    };
    walk(join(import.meta.dir, ".."));
    const code = Buffer.concat(files.sort().map((f) => readFileSync(f)));
    expect(code.length).toBeGreaterThan(256 * 1024);
    let ours = 0;
    let zlib6 = 0;
    for (let at = 0; at < code.length; at += 65536) {
      const chunk = code.subarray(at, at + 65536);
      ours += deflateRaw(chunk).length;
      zlib6 += deflateRawSync(chunk, { level: 6 }).length;
    }
    expect(ours / zlib6).toBeLessThan(1.01);
  });

  test("is deterministic: same input, same bytes", () => {
    const random = new Uint8Array(200_000).map((_, i) => (i * 2654435761) >>> 24);
    for (const input of [text, random, new Uint8Array(0)]) {
      expect(Buffer.from(deflateRaw(input)).equals(Buffer.from(deflateRaw(input.slice())))).toBe(true);
    }
  });

  test("never longer than stored blocks, even for incompressible data", () => {
    const random = new Uint8Array(256 * 1024);
    for (let i = 0; i < random.length; i += 65536) crypto.getRandomValues(random.subarray(i, i + 65536));
    for (const input of [random, random.subarray(0, 1), new Uint8Array(0)]) {
      expect(deflateRaw(input).length).toBeLessThanOrEqual(storedLength(input.length));
    }
  });

  test("incompressible chunks are stored after deflating a quarter of them at level 1; others are deflated whole", () => {
    const random = new Uint8Array(65536);
    crypto.getRandomValues(random);
    const halfText = new Uint8Array([...random.subarray(0, 32768), ...text.subarray(0, 32768)]);
    const deflated: number[] = [];
    const spy = spyOn(Bun, "deflateSync").mockImplementation(((data: Uint8Array, options?: object) => {
      deflated.push(data.length);
      return deflateRawSync(data, options as object);
    }) as typeof Bun.deflateSync);
    try {
      expect(Buffer.from(deflateRaw(random)).equals(Buffer.from(storedDeflate(random)))).toBe(true);
      expect(deflated.reduce((sum, n) => sum + n, 0)).toBeLessThanOrEqual(4 * 4096);
      deflated.length = 0;
      expect(deflateRaw(halfText).length).toBeLessThan(0.6 * halfText.length);
      expect(deflated).toContain(halfText.length);
    } finally {
      spy.mockRestore();
    }
  });

  test("a random 4 KiB block repeated over a chunk (a disk image's pattern) is deflated, not stored", () => {
    const block = new Uint8Array(4096);
    crypto.getRandomValues(block);
    const repeated = new Uint8Array(65536 + 1000).map((_, i) => block[(i + 1000) % 4096]!);
    expect(deflateRaw(repeated).length).toBeLessThan(repeated.length / 8);
  });

  test("stored blocks inflate back, at block boundaries too", () => {
    for (const n of [0, 1, 65534, 65535, 65536, 3 * 65535, 200_000]) {
      const input = new Uint8Array(n).map((_, i) => (i * 31) & 0xff);
      const stored = storedDeflate(input);
      expect(stored.length).toBe(storedLength(n));
      expect(Buffer.from(inflateRawSync(stored)).equals(Buffer.from(input))).toBe(true);
    }
  });

  test("gzip -t and gzip -dc accept a concatenation of members made with it", () => {
    const dir = mkdtempSync(join(tmpdir(), "hr-gz-"));
    try {
      const parts = [text.subarray(0, 50_000), new Uint8Array(0), text.subarray(50_000), new Uint8Array(300_000)];
      const file = join(dir, "x.gz");
      const members = parts.map((p) => encodeGzipMember(p, deflateRaw));
      members.push(encodeGzipMember(text.subarray(0, 70_000), storedDeflate));
      parts.push(text.subarray(0, 70_000));
      writeFileSync(file, Buffer.concat(members));
      const check = Bun.spawnSync(["gzip", "-t", file]);
      expect(check.stderr.toString()).toBe("");
      expect(check.exitCode).toBe(0);
      const out = Bun.spawnSync(["gzip", "-dc", file]);
      expect(out.exitCode).toBe(0);
      expect(Buffer.from(out.stdout).equals(Buffer.concat(parts))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
