import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { inflateMember, readMemberLength } from "./gzip-member.ts";
import { encodeZstdMember, inflateZstdMember, ZSTD_MEMBER_HEADER } from "./zstd-member.ts";
import { zstdFrame } from "../io/compress.ts";

const text = (n: number) => new TextEncoder().encode("zstd members for tar --zstd\n".repeat(n));

describe("zstd members", () => {
  test("a concatenation of members is a file that zstd -t accepts and zstd -d restores", () => {
    const parts = [text(100), text(3000), new Uint8Array(70_000).map((_, i) => (i * 7919) & 0xff)];
    const file = Buffer.concat(parts.map((p) => encodeZstdMember(p, zstdFrame)));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "zstd-member-"));
    fs.writeFileSync(path.join(dir, "x.zst"), file);
    expect(spawnSync("zstd", ["-q", "-t", path.join(dir, "x.zst")]).status).toBe(0);
    const out = spawnSync("zstd", ["-q", "-d", "-c", path.join(dir, "x.zst")]);
    expect(Buffer.from(out.stdout).equals(Buffer.concat(parts))).toBe(true);
    // members are found by their length, like gzip members
    let at = 0;
    const back: Uint8Array[] = [];
    while (at < file.length) {
      const n = readMemberLength(file, at);
      back.push(inflateMember(file.subarray(at, at + n), 256 * 1024));
      at += n;
    }
    expect(Buffer.concat(back).equals(Buffer.concat(parts))).toBe(true);
  });

  test("a declared size over the limit is TOO_LARGE before decompressing; damage is refused", () => {
    const member = encodeZstdMember(text(5000), zstdFrame);
    expect(() => inflateZstdMember(member, 1000)).toThrow("more than 1000");
    const flipped = member.slice();
    flipped[ZSTD_MEMBER_HEADER + 20]! ^= 0x40;
    expect(() => inflateZstdMember(flipped, 1 << 20)).toThrow();
    expect(() => inflateZstdMember(member.subarray(0, member.length - 1), 1 << 20)).toThrow("claims");
  });
});
