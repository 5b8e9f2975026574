// WalkedEntries: entries come back exactly as pushed (64-bit times and inodes included), and fingerprint as the objects do.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { WalkedEntries } from "./walked-entries.ts";
import { fingerprintEntries } from "./tree-walk.ts";
import type { WalkedEntry } from "./walked-entries.ts";

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

function storeOf(entries: readonly WalkedEntry[]): WalkedEntries {
  const store = new WalkedEntries("/data/", users, groups);
  for (const e of entries) store.push(e.path, e.type, e.mode, e.uid, e.gid, e.size, e.mtime, e.mtimeNs, e.ctimeNs, e.ino, e.linkTarget);
  return store;
}

describe("WalkedEntries", () => {
  test("gives back every entry as pushed, in order, and fingerprints like the objects", () => {
    fc.assert(
      fc.property(fc.array(entryArb, { maxLength: 150 }), (entries) => {
        const store = storeOf(entries);
        expect(store.length).toBe(entries.length);
        expect(store.toArray()).toEqual(entries);
        expect([...store.entrySizes()]).toEqual(entries.map((e) => e.size));
        expect(fingerprintEntries(store, "x")).toBe(fingerprintEntries(entries, "x"));
      }),
      { numRuns: 60 },
    );
  });

  test("a 64-bit inode and nanosecond times far from zero survive exactly", () => {
    const ino = (1n << 64n) - 3n;
    const mtimeNs = -1_234_567_890_123_456_789n;
    const store = new WalkedEntries("/", users, groups);
    store.push("www", "dir", 0o40755, 1000, 100, 0, -1_234_567_891, mtimeNs, 9_007_199_254_740_993n, ino);
    const e = store.at(0);
    expect(e.ino).toBe(ino);
    expect(e.mtimeNs).toBe(mtimeNs);
    expect(e.ctimeNs).toBe(9_007_199_254_740_993n);
    expect(e.mode).toBe(0o755);
    expect(e.absPath).toBe("/www");
    expect([e.uname, e.gname]).toEqual(["ana", "users"]);
    expect(e.linkTarget).toBeUndefined();
    expect("linkTarget" in e).toBe(false);
  });

  test("refuses ids that are not 32-bit and indexes out of range", () => {
    const store = new WalkedEntries("/", users, groups);
    expect(() => store.push("a", "file", 0o644, 2 ** 32, 0, 0, 0, 0n, 0n, 1n)).toThrow(RangeError);
    expect(() => store.push("a", "file", 0o644, 0, -1, 0, 0, 0n, 0n, 1n)).toThrow(RangeError);
    expect(store.length).toBe(0);
    expect(() => store.at(0)).toThrow(RangeError);
  });
});
