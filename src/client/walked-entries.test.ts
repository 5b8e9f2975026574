// Fingerprint lines, the walk's digest and segment keys: every field counts, 64-bit times and inodes exactly.
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import fc from "fast-check";
import { EntryDigest, fingerprintLine, segmentKey, type WalkedEntry } from "./walked-entries.ts";

const users = new Map([
  [0, "root"],
  [1000, "ana"],
]);
const groups = new Map([
  [0, "root"],
  [100, "users"],
]);

const entryArb: fc.Arbitrary<WalkedEntry> = fc
  .record({
    path: fc.string({ minLength: 1, maxLength: 40, unit: "binary" }),
    type: fc.constantFrom("file" as const, "dir" as const, "symlink" as const),
    mode: fc.integer({ min: 0, max: 0o7777 }),
    uid: fc.constantFrom(0, 1000, 4294967294),
    gid: fc.constantFrom(0, 100, 65534),
    size: fc.maxSafeNat(),
    mtimeNs: fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }),
    ctimeNs: fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }),
    ino: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    linkTarget: fc.option(fc.string({ maxLength: 30, unit: "binary" }), { nil: undefined }),
  })
  .map((r) => {
    const e: WalkedEntry = {
      path: `src/${r.path}`,
      type: r.type,
      mode: r.mode,
      uid: r.uid,
      gid: r.gid,
      uname: users.get(r.uid) ?? "",
      gname: groups.get(r.gid) ?? "",
      size: r.type === "file" ? r.size : 0,
      mtime: Number(r.mtimeNs / 1_000_000_000n),
      absPath: `/data/src/${r.path}`,
      mtimeNs: r.mtimeNs,
      ctimeNs: r.ctimeNs,
      ino: r.ino,
    };
    if (r.type === "symlink") e.linkTarget = r.linkTarget ?? "";
    return e;
  });

describe("fingerprint lines", () => {
  test("two entries differing in any field give different lines and segment keys", () => {
    fc.assert(
      fc.property(entryArb, entryArb, (a, b) => {
        const fields = ["path", "type", "mode", "uid", "gid", "uname", "gname", "size", "mtimeNs", "ctimeNs", "ino", "linkTarget"] as const;
        const same = fields.every((f) => a[f] === b[f]);
        expect(fingerprintLine(a) === fingerprintLine(b)).toBe(same);
        expect(Buffer.from(segmentKey(fingerprintLine(a))).equals(Buffer.from(segmentKey(fingerprintLine(b))))).toBe(same);
      }),
      { numRuns: 200 },
    );
  });

  test("a 64-bit inode and nanosecond times far from zero count to the last unit", () => {
    const e: WalkedEntry = {
      path: "www",
      type: "dir",
      mode: 0o755,
      uid: 1000,
      gid: 100,
      uname: "ana",
      gname: "users",
      size: 0,
      mtime: -1_234_567_891,
      absPath: "/www",
      mtimeNs: -1_234_567_890_123_456_789n,
      ctimeNs: 9_007_199_254_740_993n,
      ino: (1n << 64n) - 3n,
    };
    const line = fingerprintLine(e);
    for (const changed of [{ ino: e.ino - 1n }, { mtimeNs: e.mtimeNs + 1n }, { ctimeNs: e.ctimeNs - 1n }]) {
      expect(fingerprintLine({ ...e, ...changed })).not.toBe(line);
    }
    expect(line).toContain("18446744073709551613");
  });

  test("the digest is SHA-256 of the lines, each ending in a newline, however many", () => {
    fc.assert(
      fc.property(fc.array(entryArb, { maxLength: 700 }), (entries) => {
        const digest = new EntryDigest();
        for (const e of entries) digest.add(fingerprintLine(e));
        const lines = entries.map((e) => `${fingerprintLine(e)}\n`).join("");
        expect(digest.hex()).toBe(createHash("sha256").update(lines).digest("hex"));
      }),
      { numRuns: 20 },
    );
  });
});
