// The names a restore checks are the names tar extracts: our own headers, GNU tar's long names and absolute paths, in pieces of any size.
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { encodeTarHeader, tarPadding, TAR_TRAILER, type TarEntry } from "./tar.ts";
import { TarNameScanner } from "./tar-names.ts";

const entry = (p: string, type: TarEntry["type"], size = 0): TarEntry => ({
  path: p,
  type,
  mode: 0o644,
  uid: 0,
  gid: 0,
  uname: "",
  gname: "",
  size,
  mtime: 0,
  ...(type === "symlink" ? { linkTarget: "../elsewhere" } : {}),
});

/** A tar stream of `entries`, each file's data `size` bytes of 0x61. */
function stream(entries: TarEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const e of entries) parts.push(encodeTarHeader(e), new Uint8Array(e.size).fill(0x61), new Uint8Array(tarPadding(e.size)));
  parts.push(TAR_TRAILER);
  return new Uint8Array(Buffer.concat(parts));
}

/** Writes `text` at `at` in the header block starting `bytes`, and its checksum anew. */
function patchHeader(bytes: Uint8Array, at: number, text: string): void {
  bytes.set(new TextEncoder().encode(text), at);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : bytes[i]!;
  bytes.set(new TextEncoder().encode(`${sum.toString(8).padStart(6, "0")}\0 `), 148);
}

/** The names told, feeding `bytes` in pieces of `piece` bytes. */
function namesOf(bytes: Uint8Array, piece: number): string[] {
  const scanner = new TarNameScanner();
  const names: string[] = [];
  for (let at = 0; at < bytes.length; at += piece) names.push(...scanner.push(bytes.subarray(at, at + piece)));
  return names;
}

describe("TarNameScanner", () => {
  test("our own headers, short and pax-long names, whatever the pieces", () => {
    const long = `${"deep/".repeat(40)}Café crème.txt`;
    const bytes = stream([
      entry("site", "dir"),
      entry("site/a.txt", "file", 1000),
      entry(long, "file", 513),
      entry("site/link", "symlink"),
    ]);
    for (const piece of [1, 7, 512, 1000, bytes.length]) expect(namesOf(bytes, piece)).toEqual(["site/", "site/a.txt", long, "site/link"]);
  });

  test("GNU tar's long names and absolute names are told as stored", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tar-names-"));
    try {
      const long = "x".repeat(150);
      fs.writeFileSync(path.join(dir, long), "long\n");
      fs.writeFileSync(path.join(dir, "abs.txt"), "abs\n");
      for (const format of ["gnu", "posix"]) {
        const tar = spawnSync("tar", [`--format=${format}`, "-cPf", "-", long, "../escape", path.join(dir, "abs.txt")], { cwd: dir });
        // ../escape does not exist: tar says so and goes on
        const names = namesOf(new Uint8Array(tar.stdout), 4096);
        expect(names).toEqual([long, path.join(dir, "abs.txt")]);
      }
      fs.writeFileSync(path.join(dir, "up.txt"), "up\n");
      const up = spawnSync("tar", ["-cPf", "-", "../".concat(path.basename(dir), "/up.txt")], { cwd: dir });
      expect(namesOf(new Uint8Array(up.stdout), 100)).toEqual([`../${path.basename(dir)}/up.txt`]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("zero blocks do not end the scan: an entry after them is still told", () => {
    const hidden = stream([entry("etc-passwd", "file", 3)]);
    patchHeader(hidden, 0, "/etc/passwd");
    const bytes = Buffer.concat([stream([entry("a", "file", 3)]), hidden]);
    expect(namesOf(new Uint8Array(bytes), 512)).toEqual(["a", "/etc/passwd"]);
  });

  test("a header with a bad checksum, or a link with data, is refused", () => {
    const bytes = stream([entry("a", "file", 3)]);
    bytes[0] = bytes[0]! ^ 1;
    expect(() => namesOf(bytes, 512)).toThrow(/bad checksum/);
    const link = stream([entry("l", "symlink")]);
    patchHeader(link, 124, "00000000010\0");
    expect(() => namesOf(link, 512)).toThrow(/link or device entry with 8 bytes/);
  });
});
