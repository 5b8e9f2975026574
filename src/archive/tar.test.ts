import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { Buffer } from "node:buffer";
import { TAR_TRAILER, compareTarPathBytes, compareTarPaths, encodeTarHeader, tarHeaderLength, tarPadding, type TarEntry } from "./tar.ts";

const text = new TextDecoder();

function file(path: string, extra: Partial<TarEntry> = {}): TarEntry {
  return { path, type: "file", mode: 0o644, uid: 1000, gid: 1000, uname: "alice", gname: "staff", size: 0, mtime: 1_700_000_000, ...extra };
}

/** A NUL-terminated header field as text. */
function field(block: Uint8Array, offset: number, length: number): string {
  const raw = block.subarray(offset, offset + length);
  const end = raw.indexOf(0);
  return text.decode(end < 0 ? raw : raw.subarray(0, end));
}

function checksumOk(block: Uint8Array): boolean {
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return parseInt(field(block, 148, 8), 8) === sum;
}

describe("compareTarPaths", () => {
  test("a folder comes right before its content, before siblings that extend its name", () => {
    const paths = ["dir-2", "dir/x", "dir", "dir0", "dir/x/y", "dir/x-1", "dir.txt", "a", "dir/é", "dir/z"];
    expect([...paths].sort(compareTarPaths)).toEqual([
      "a",
      "dir",
      "dir/x",
      "dir/x/y",
      "dir/x-1",
      "dir/z",
      "dir/é",
      "dir-2",
      "dir.txt",
      "dir0",
    ]);
  });

  test("orders by code point (UTF-8 byte order), not by UTF-16 unit", () => {
    // U+FF5E is one UTF-16 unit above the surrogate that starts U+1F600, but below it as a code point.
    expect(compareTarPaths("\u{ff5e}", "\u{1f600}")).toBeLessThan(0);
    expect(compareTarPaths("\u{1f600}", "\u{ff5e}")).toBeGreaterThan(0);
    expect(Buffer.compare(Buffer.from("\u{ff5e}"), Buffer.from("\u{1f600}"))).toBeLessThan(0);
  });

  test("is a total order that agrees with byte order when no '/' is involved", () => {
    const segment = fc.string({ unit: "grapheme", minLength: 1, maxLength: 6 }).filter((s) => !s.includes("/"));
    fc.assert(
      fc.property(segment, segment, (a, b) => {
        const byBytes = Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b)));
        expect(Math.sign(compareTarPaths(a, b))).toBe(byBytes);
        // -byBytes || 0, not -0: toBe compares with Object.is, and equal segments are drawn now and then
        expect(Math.sign(compareTarPaths(b, a))).toBe(-byBytes || 0);
      }),
    );
  });

  test("over UTF-8 bytes, compareTarPathBytes orders as compareTarPaths does", () => {
    const path = fc
      .array(fc.constantFrom("a", "b", "-", ".", "/", "é", "\u{1f600}", "z", "0"), { minLength: 1, maxLength: 8 })
      .map((p) => p.join(""));
    fc.assert(
      fc.property(path, path, (a, b) => {
        expect(Math.sign(compareTarPathBytes(Buffer.from(a), Buffer.from(b)))).toBe(Math.sign(compareTarPaths(a, b)));
      }),
    );
  });
});

describe("encodeTarHeader", () => {
  test("a short file: one ustar block with the metadata in octal and a valid checksum", () => {
    const block = encodeTarHeader(file("www/index.html", { mode: 0o4755, size: 1234, mtime: 1_700_000_001 }));
    expect(block.length).toBe(512);
    expect(field(block, 0, 100)).toBe("www/index.html");
    expect(field(block, 100, 8)).toBe("0004755");
    expect(field(block, 108, 8)).toBe("0001750");
    expect(field(block, 124, 12)).toBe("00000002322");
    expect(field(block, 136, 12)).toBe((1_700_000_001).toString(8).padStart(11, "0"));
    expect(String.fromCharCode(block[156]!)).toBe("0");
    expect(field(block, 257, 6)).toBe("ustar");
    expect(field(block, 265, 32)).toBe("alice");
    expect(checksumOk(block)).toBe(true);
  });

  test("folders end in '/' and symlinks carry their target", () => {
    const dir = encodeTarHeader({ ...file("www/assets"), type: "dir", mode: 0o755 });
    expect(field(dir, 0, 100)).toBe("www/assets/");
    expect(String.fromCharCode(dir[156]!)).toBe("5");
    const link = encodeTarHeader({ ...file("www/current"), type: "symlink", linkTarget: "../releases/42" });
    expect(String.fromCharCode(link[156]!)).toBe("2");
    expect(field(link, 157, 100)).toBe("../releases/42");
  });

  test("a 150-byte ASCII path is split into prefix + name without pax", () => {
    const path = `${"p".repeat(60)}/${"q".repeat(89)}`;
    const block = encodeTarHeader(file(path));
    expect(block.length).toBe(512);
    expect(field(block, 345, 155)).toBe("p".repeat(60));
    expect(field(block, 0, 100)).toBe("q".repeat(89));
  });

  test("pax header for long names, non-ASCII, huge sizes and ids, with a fixed name and mtime 0", () => {
    const cases: [TarEntry, string][] = [
      [file(`d/${"n".repeat(120)}`), "path"],
      [file("caf\u00e9.txt"), "path"],
      [{ ...file("l"), type: "symlink", linkTarget: "t".repeat(101) }, "linkpath"],
      [file("big", { size: 9 * 1024 ** 3 }), "size"],
      [file("u", { uid: 5_000_000 }), "uid"],
      [file("o", { uname: "a-very-long-user-name-over-32-bytes" }), "uname"],
      [file("old", { mtime: -86_400 }), "mtime"],
    ];
    for (const [entry, key] of cases) {
      const out = encodeTarHeader(entry);
      expect(out.length % 512).toBe(0);
      expect(out.length).toBeGreaterThanOrEqual(1536);
      expect(field(out, 0, 100)).toBe("././@PaxHeader");
      expect(String.fromCharCode(out[156]!)).toBe("x");
      expect(field(out, 136, 12)).toBe("00000000000");
      expect(checksumOk(out.subarray(0, 512))).toBe(true);
      const records = field(out, 512, out.length - 1024);
      expect(records).toContain(` ${key}=`);
      for (const record of records.trimEnd().split("\n")) {
        expect(Number(record.split(" ")[0])).toBe(Buffer.byteLength(`${record}\n`));
      }
      expect(checksumOk(out.subarray(out.length - 512))).toBe(true);
    }
  });

  test("tarHeaderLength is the header's length, pax or not, without making it", () => {
    const entry = fc.record({
      path: fc.constantFrom("a", `d/${"n".repeat(120)}`, "caf\u00e9.txt", `${"p".repeat(99)}/${"q".repeat(99)}`),
      size: fc.constantFrom(0, 10, 9 * 1024 ** 3),
      uid: fc.constantFrom(0, 5_000_000),
      uname: fc.constantFrom("", "alice", "a-very-long-user-name-over-32-bytes", "j\u00f6rg"),
      mtime: fc.constantFrom(1_700_000_000, -86_400),
    });
    fc.assert(
      fc.property(entry, (e) => {
        const t = file(e.path, { size: e.size, uid: e.uid, uname: e.uname, mtime: e.mtime });
        expect(tarHeaderLength(t)).toBe(encodeTarHeader(t).length);
      }),
    );
  });

  test("the same entry always gives the same bytes", () => {
    const entry = file(`x/${"é".repeat(80)}`, { size: 10 });
    expect(Buffer.from(encodeTarHeader(entry)).equals(Buffer.from(encodeTarHeader({ ...entry })))).toBe(true);
  });

  test("refuses paths that are not clean relative paths", () => {
    for (const path of ["", "/etc", "./a", "a/", "a//b", "a/../b", "..", "a\0b"]) {
      expect(() => encodeTarHeader(file(path))).toThrow(/invalid archive path/);
    }
    expect(() => encodeTarHeader({ ...file("d"), type: "dir", size: 3 })).toThrow(/bad size/);
    expect(() => encodeTarHeader({ ...file("s"), type: "symlink" })).toThrow(/bad linkTarget/);
  });
});

test("tarPadding rounds up to 512", () => {
  expect([0, 1, 511, 512, 513].map(tarPadding)).toEqual([0, 511, 1, 0, 511]);
  expect(TAR_TRAILER.length).toBe(1024);
  expect(TAR_TRAILER.every((b) => b === 0)).toBe(true);
});
