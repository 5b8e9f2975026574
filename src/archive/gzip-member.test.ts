import { describe, expect, test } from "bun:test";
import { Buffer } from "node:buffer";
import { deflateRawSync, gunzipSync } from "node:zlib";
import { GZIP_HEADER_BYTES, encodeGzipMember, inflateMember, readMemberLength } from "./gzip-member.ts";
import { thrownCode } from "../testing/thrown-code.ts";

const deflate = (raw: Uint8Array) => new Uint8Array(deflateRawSync(raw, { level: 6 }));
const text = new TextEncoder().encode("proof > payload\n".repeat(500));

describe("gzip members", () => {
  test("the header is fixed (FEXTRA, mtime 0, OS 255) and carries the member length", () => {
    const member = encodeGzipMember(text, deflate);
    expect([...member.subarray(0, 16)]).toEqual([0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 255, 8, 0, 0x48, 0x52, 4, 0]);
    expect(Buffer.from(member).readUInt32LE(16)).toBe(member.length);
    expect(readMemberLength(member, 0)).toBe(member.length);
    expect(Buffer.from(member).readUInt32LE(member.length - 4)).toBe(text.length);
  });

  test("a standard gzip reader decodes a concatenation of members as the concatenated data", () => {
    const parts = [text, new Uint8Array(0), new Uint8Array(70_000).fill(7), text.subarray(3, 900)];
    const file = Buffer.concat(parts.map((p) => encodeGzipMember(p, deflate)));
    expect(Buffer.from(gunzipSync(file)).equals(Buffer.concat(parts))).toBe(true);
    let offset = 0;
    const back: Uint8Array[] = [];
    while (offset < file.length) {
      const length = readMemberLength(file, offset);
      back.push(inflateMember(file.subarray(offset, offset + length), 70_000));
      offset += length;
    }
    expect(Buffer.concat(back).equals(Buffer.concat(parts))).toBe(true);
  });

  test("a flipped bit never yields different data silently: HASH_MISMATCH, BAD_FRAME or TOO_LARGE", () => {
    // Some flips decode to the very same bytes (e.g. a back-reference distance moved by a
    // multiple of the text's period): that is harmless, the raw data is intact.
    const raw = text.subarray(0, 3000);
    const member = encodeGzipMember(raw, deflate);
    let caught = 0;
    for (let i = 0; i < member.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const bad = member.slice();
        bad[i]! ^= 1 << bit;
        let outcome: string;
        try {
          outcome = Buffer.from(inflateMember(bad, 1 << 20)).equals(Buffer.from(raw)) ? "same data" : "DIFFERENT DATA";
        } catch (err) {
          outcome = (err as { code?: string }).code ?? String(err);
          caught++;
        }
        expect({ i, bit, outcome }).toEqual({ i, bit, outcome: expect.stringMatching(/^(HASH_MISMATCH|BAD_FRAME|TOO_LARGE|same data)$/) });
      }
    }
    expect(caught).toBeGreaterThan(member.length * 8 * 0.9);
  });

  test("ISIZE over the limit is TOO_LARGE before inflating", () => {
    const member = encodeGzipMember(new Uint8Array(5000), deflate);
    expect(thrownCode(() => inflateMember(member, 4999))).toBe("TOO_LARGE");
    expect(inflateMember(member, 5000).length).toBe(5000);
    // A bomb: a small member whose deflate data expands far beyond what its ISIZE claims.
    const bomb = encodeGzipMember(new Uint8Array(50_000_000), deflate);
    Buffer.from(bomb.buffer).writeUInt32LE(1000, bomb.length - 4);
    expect(thrownCode(() => inflateMember(bomb, 1 << 20))).toBe("HASH_MISMATCH");
  });

  test("truncated, padded or foreign input is BAD_FRAME", () => {
    const member = encodeGzipMember(text, deflate);
    expect(thrownCode(() => readMemberLength(member.subarray(0, GZIP_HEADER_BYTES - 1), 0))).toBe("BAD_FRAME");
    expect(thrownCode(() => inflateMember(member.subarray(0, member.length - 1), 1 << 20))).toBe("BAD_FRAME");
    expect(thrownCode(() => inflateMember(Buffer.concat([member, Buffer.from([0])]), 1 << 20))).toBe("BAD_FRAME");
    const plainGzip = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(thrownCode(() => readMemberLength(plainGzip, 0))).toBe("BAD_FRAME");
    // Deflate data followed by junk inside the member: the declared length matches, the stream does not.
    const deflated = deflate(text);
    const junk = encodeGzipMember(text, () => Buffer.concat([deflated, Buffer.from([1, 2, 3])]));
    expect(thrownCode(() => inflateMember(junk, 1 << 20))).toBe("BAD_FRAME");
  });
});
