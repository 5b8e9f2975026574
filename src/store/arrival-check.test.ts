// The arrival check: exactly our member of that id and raw length, CRC32 and ISIZE included, through one reused buffer.
import { describe, expect, test } from "bun:test";
import { encodeGzipMember } from "../archive/gzip-member.ts";
import { encodeZstdMember } from "../archive/zstd-member.ts";
import { deflateRaw, zstdFrame } from "../io/compress.ts";
import { CHUNK_MAX } from "../protocol/constants.ts";
import { ArrivalCheck } from "./arrival-check.ts";
import { seededBytes, sha256 } from "./test-fixtures.ts";

const text = (n: number) => new TextEncoder().encode(Array.from({ length: n }, (_, i) => `line ${i} = ${(i * 7919) % 1000}\n`).join(""));
const gzip = (raw: Uint8Array) => encodeGzipMember(raw, deflateRaw);

describe("ArrivalCheck", () => {
  test("true only for the exact member of that id and raw length", () => {
    const check = new ArrivalCheck();
    for (const raw of [seededBytes("m", 3000), text(400)]) {
      const member = gzip(raw);
      const id = sha256(raw);
      expect(check.matches(member, id, raw.length)).toBe(true);
      expect(check.matches(member, id, raw.length - 1)).toBe(false);
      expect(check.matches(member, id, raw.length + 1)).toBe(false);
      expect(check.matches(member, sha256(seededBytes("other", 3000)), raw.length)).toBe(false);
      expect(check.matches(member.subarray(0, member.length - 1), id, raw.length)).toBe(false);
      const flipped = member.slice();
      flipped[30] = flipped[30]! ^ 1;
      expect(check.matches(flipped, id, raw.length)).toBe(false);
    }
  });

  test("a member whose deflate data is sound but whose CRC32 or ISIZE is not is refused", () => {
    const check = new ArrivalCheck();
    const raw = text(400);
    const member = gzip(raw);
    const badCrc = member.slice();
    badCrc[member.length - 8] = badCrc[member.length - 8]! ^ 1;
    expect(check.rawOf(badCrc, raw.length)).toBeNull();
    // a member of one byte more, its trailer claiming the shorter length: it inflates past it
    const longer = gzip(new Uint8Array([...raw, 0x41]));
    new DataView(longer.buffer, longer.byteOffset).setUint32(longer.length - 4, raw.length, true);
    expect(check.rawOf(longer, raw.length)).toBeNull();
    expect(check.rawOf(member, raw.length)).toEqual(raw);
  });

  test("members one after another, bad ones between, each checked on its own bytes", () => {
    const check = new ArrivalCheck();
    const big = text(20_000).subarray(0, CHUNK_MAX);
    const small = text(10);
    expect(check.matches(gzip(big), sha256(big), big.length)).toBe(true);
    expect(check.rawOf(gzip(small), small.length)).toEqual(small);
    expect(check.rawOf(new Uint8Array(100), 50)).toBeNull();
    // the small member's bytes are in the buffer's first bytes: a member with those raw bytes but another id still fails
    expect(check.matches(gzip(big), sha256(small), big.length)).toBe(false);
    expect(check.matches(gzip(small), sha256(small), small.length)).toBe(true);
  });

  test("zstd members are checked as well", () => {
    const check = new ArrivalCheck();
    const raw = text(400);
    const member = encodeZstdMember(raw, zstdFrame);
    expect(check.matches(member, sha256(raw), raw.length)).toBe(true);
    expect(check.matches(member, sha256(raw), raw.length - 1)).toBe(false);
  });
});
