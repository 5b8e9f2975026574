import { afterEach, beforeEach, describe, expect, spyOn, test } from "bun:test";
import * as fs from "node:fs";
import { createHash } from "node:crypto";
import {
  chmodSync,
  lutimesSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  truncateSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { READ_BUFFER_BYTES, buildArchive, entrySourceOf, type BuildEntry, type BuiltChunk } from "./archive-builder.ts";
import { SourceIndexWriter } from "./source-index/index-writer.ts";
import { SourceIndex } from "./source-index/source-index.ts";
import { withOldHeaders, type OldHeader } from "../archive/old-headers.ts";
import { TreeWalk } from "./tree-walk.ts";
import { fingerprintLine, segmentKey, type WalkedEntry } from "./walked-entries.ts";
import { blocksOf } from "../archive/chunk-delta.ts";
import { inflateMember } from "../archive/gzip-member.ts";
import { archiveIdOf } from "../archive/manifest.ts";
import { listWalk } from "../testing/walk-list.ts";
import type { TarEntry } from "../archive/tar.ts";
import { noise } from "../testing/noise.ts";

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "hr-build-"));
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

const sha = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");
const LONG_NAME = "n".repeat(120);
const LONG_PATH = ["d".repeat(100), "e".repeat(100), "f".repeat(90)];

/** A tree with everything the archive must carry; returns the source folder. */
function makeTree(): string {
  const src = join(root, "src");
  const file = (rel: string, content: Uint8Array | string, mode: number, mtime: number) => {
    const abs = join(src, rel);
    mkdirSync(join(abs, ".."), { recursive: true });
    writeFileSync(abs, content);
    chmodSync(abs, mode);
    utimesSync(abs, mtime, mtime);
  };
  file("big.bin", noise(3 * 1024 * 1024 + 17, 1), 0o644, 1_600_000_000);
  file("etc/secret.key", "private\n", 0o600, 1_600_000_100);
  file("bin/tool", "#!/bin/sh\necho hi\n", 0o755, 1_600_000_200);
  file("bin/suid", "#!/bin/sh\n", 0o4750, 1_600_000_250);
  file("h\u00e9llo w\u00f6rld/caf\u00e9 \u2615.txt", "unicode\n", 0o644, 1_600_000_300);
  file("with space.txt", "spaced\n", 0o640, 1_600_000_400);
  file(LONG_NAME, "long name\n", 0o644, 1_600_000_500);
  file(join(...LONG_PATH), "long path\n", 0o644, 1_600_000_600);
  file("empty-file", "", 0o644, 1_600_000_700);
  file("page.html", "<p>proof &gt; payload</p>\n".repeat(20_000), 0o644, 1_600_000_800);
  mkdirSync(join(src, "empty-dir"));
  symlinkSync("etc/secret.key", join(src, "link-rel"));
  symlinkSync("/nowhere/at/all", join(src, "link-dangling"));
  lutimesSync(join(src, "link-rel"), 1_600_000_900, 1_600_000_900);
  for (const dir of ["empty-dir", "etc", "bin", "h\u00e9llo w\u00f6rld", join(...LONG_PATH.slice(0, 2)), LONG_PATH[0]!, "."]) {
    utimesSync(join(src, dir), 1_500_000_000, 1_500_000_000);
  }
  return src;
}

async function build(entries: readonly BuildEntry[]) {
  const chunks: BuiltChunk[] = [];
  const summary = await buildArchive(entrySourceOf(entries), { onChunk: (c) => void chunks.push(c) });
  return { summary, chunks, file: Buffer.concat(chunks.map((c) => c.member!)) };
}

function run(cmd: string[], cwd = root): string {
  const result = Bun.spawnSync(cmd, { cwd, env: { TZ: "UTC", LC_ALL: "C.UTF-8", PATH: process.env.PATH ?? "/usr/bin:/bin" } });
  expect({ cmd: cmd.join(" "), stderr: result.stderr.toString(), exitCode: result.exitCode }).toEqual({
    cmd: cmd.join(" "),
    stderr: "",
    exitCode: 0,
  });
  return result.stdout.toString();
}

/** What a restore must reproduce, per entry. */
async function describeTree(source: string) {
  const { entries } = await listWalk(source);
  return entries.map((e) => ({
    path: e.path,
    type: e.type,
    mode: e.mode,
    uid: e.uid,
    gid: e.gid,
    mtime: e.mtime,
    size: e.size,
    linkTarget: e.linkTarget,
    content: e.type === "file" ? sha(readFileSync(e.absPath)) : undefined,
  }));
}

describe("buildArchive with the real tar and gzip", () => {
  test("tar -xzf restores content, modes, mtimes, owners and symlinks; tar -tv lists entries in walk order", async () => {
    const src = makeTree();
    const walked = await listWalk(src);
    const { summary, chunks, file } = await build(walked.entries);
    const archive = join(root, "backup-src-00-00-00-2024-01-01.tar.gz");
    writeFileSync(archive, file);

    run(["gzip", "-t", archive]);
    const out = join(root, "restored");
    mkdirSync(out);
    run(["tar", "-xzpf", archive, "-C", out]);
    expect(await describeTree(join(out, "src"))).toEqual(await describeTree(src));

    const listing = run(["tar", "--quoting-style=literal", "-tvzf", archive]).trimEnd().split("\n");
    const listedNames = listing.map((line) =>
      line
        .replace(/^.*? \d{4}-\d\d-\d\d \d\d:\d\d /, "")
        .replace(/ -> .*$/, "")
        .replace(/\/$/, ""),
    );
    expect(listedNames).toEqual(walked.entries.map((e) => e.path));
    // Owned by whoever runs the test (root in CI).
    const owner = `${run(["id", "-un"]).trim()}/${run(["id", "-gn"]).trim()}`;
    expect(listing.find((l) => l.endsWith("src/etc/secret.key"))).toStartWith(`-rw------- ${owner} `);
    expect(listing.find((l) => l.includes("src/link-rel"))).toEndWith("src/link-rel -> etc/secret.key");

    expect(chunks.length).toBeGreaterThan(40);
    expect(summary.chunks).toBe(chunks.length);
    expect(summary.fileSize).toBe(file.length);
    expect(summary.fileSha256).toBe(sha(file));
    expect(summary.rawSize).toBe(gunzipSync(file).length);
    expect(summary.rawSize % 512).toBe(0);
    expect(summary.warnings).toEqual([]);
  });

  test("chunk ids, indexes and the archive id describe the members exactly", async () => {
    const src = makeTree();
    const { summary, chunks } = await build((await listWalk(src)).entries);
    const manifest = chunks.map((c) => ({ id: c.id, rawLength: c.rawLength }));
    expect(summary.chunks).toBe(chunks.length);
    chunks.forEach((chunk, i) => {
      const raw = inflateMember(chunk.member!, 256 * 1024);
      expect(chunk.index).toBe(i);
      expect(chunk.rawLength).toBe(raw.length);
      expect(chunk.idHex).toBe(sha(raw));
      expect(Buffer.from(chunk.id).toString("hex")).toBe(chunk.idHex);
      expect(Buffer.from(manifest[i]!.id).toString("hex")).toBe(chunk.idHex);
      expect(manifest[i]!.rawLength).toBe(raw.length);
    });
    expect(summary.archiveId).toBe(archiveIdOf(manifest));
  });

  test("deterministic: the same tree built twice, a second apart, gives identical members and ids", async () => {
    const src = makeTree();
    const first = await build((await listWalk(src)).entries);
    await Bun.sleep(1100);
    const second = await build((await listWalk(src)).entries);
    expect(second.chunks.map((c) => c.idHex)).toEqual(first.chunks.map((c) => c.idHex));
    expect(second.file.equals(first.file)).toBe(true);
    expect(second.summary.archiveId).toBe(first.summary.archiveId);
    expect(second.summary.fileSha256).toBe(first.summary.fileSha256);
  });

  test("an edit in one file changes only a few chunks of the archive", async () => {
    const src = makeTree();
    const before = await build((await listWalk(src)).entries);
    const big = readFileSync(join(src, "big.bin"));
    big[1_500_000]! ^= 0xff;
    writeFileSync(join(src, "big.bin"), big);
    utimesSync(join(src, "big.bin"), 1_600_000_000, 1_600_000_000);
    const after = await build((await listWalk(src)).entries);
    const known = new Set(before.chunks.map((c) => c.idHex));
    const changed = after.chunks.filter((c) => !known.has(c.idHex)).length;
    expect(changed).toBeGreaterThanOrEqual(1);
    expect(changed).toBeLessThanOrEqual(3);
    expect(after.summary.archiveId).not.toBe(before.summary.archiveId);
  });

  test("GNU tar reads pax headers: long names, non-ASCII, big ids, long link targets, pre-1970 mtimes", async () => {
    const content = join(root, "content");
    writeFileSync(content, "abc");
    const meta = { mode: 0o644, uid: 0, gid: 0, uname: "root", gname: "root", size: 0, mtime: 1_700_000_000 };
    const file = (path: string, extra: Partial<TarEntry> = {}): BuildEntry => ({
      ...meta,
      path,
      type: "file",
      size: 3,
      absPath: content,
      ...extra,
    });
    const long = `${"a".repeat(100)}/${"b".repeat(100)}/${"c".repeat(98)}`;
    const entries: BuildEntry[] = [
      { ...meta, path: "r", type: "dir", mode: 0o755, absPath: root },
      file(`r/${long}`),
      file("r/h\u00e9llo", { uid: 4_000_000, gid: 3_000_000, uname: "", gname: "" }),
      { ...meta, path: "r/link", type: "symlink", linkTarget: `../${"t".repeat(150)}`, absPath: root },
      file("r/old", { mtime: -86_400 }),
    ];
    const archive = join(root, "t.tar.gz");
    writeFileSync(archive, (await build(entries)).file);
    const lines = run(["tar", "--numeric-owner", "--quoting-style=literal", "-tvzf", archive]).trimEnd().split("\n");
    expect(lines).toHaveLength(5);
    expect(lines[0]).toMatch(/^drwxr-xr-x 0\/0 +0 2023-11-14 22:13 r\/$/);
    expect(lines[1]).toEndWith(` 3 2023-11-14 22:13 r/${long}`);
    expect(lines[2]).toMatch(/ 4000000\/3000000 +3 .* r\/h\u00e9llo$/);
    expect(lines[3]).toEndWith(`r/link -> ../${"t".repeat(150)}`);
    expect(lines[4]).toContain(" 1969-12-31 00:00 r/old");
  });
});

describe("files that change or vanish while being archived", () => {
  async function oneFile(content: string, declaredSize: number) {
    const abs = join(root, "f.txt");
    writeFileSync(abs, content);
    const { entries } = await listWalk(abs);
    const entry = { ...(entries[0] as WalkedEntry), size: declaredSize };
    const built = await build([entry]);
    return { ...built, restored: gunzipSync(built.file).subarray(512, 512 + declaredSize) };
  }

  test("a file that shrank is padded with zeros to its header size, with a warning", async () => {
    const { summary, restored } = await oneFile("abc", 10);
    expect([...restored]).toEqual([0x61, 0x62, 0x63, 0, 0, 0, 0, 0, 0, 0]);
    expect(summary.warnings).toEqual([`${join(root, "f.txt")} shrank from 10 to 3 bytes while being archived; padded with zeros`]);
  });

  test("a file that grew is cut at its header size, with a warning", async () => {
    const { summary, file, restored } = await oneFile("abcdefghij", 4);
    expect(new TextDecoder().decode(restored)).toBe("abcd");
    expect(summary.warnings).toEqual([`${join(root, "f.txt")} grew while being archived; cut at 4 bytes`]);
    const archive = join(root, "grown.tar.gz");
    writeFileSync(archive, file);
    mkdirSync(join(root, "out"));
    run(["tar", "-xzf", archive, "-C", join(root, "out")]);
    expect(readFileSync(join(root, "out/f.txt"), "utf8")).toBe("abcd");
  });

  test("a file that grew past the read buffer's size, read in whole buffers, is cut there with a warning too", async () => {
    const { summary, restored } = await oneFile("x".repeat(READ_BUFFER_BYTES + 10), READ_BUFFER_BYTES);
    expect(restored.length).toBe(READ_BUFFER_BYTES);
    expect(summary.warnings).toEqual([`${join(root, "f.txt")} grew while being archived; cut at ${READ_BUFFER_BYTES} bytes`]);
  });

  test("a file that grew by one byte is cut, and one that did not is not flagged", async () => {
    expect((await oneFile("abcde", 4)).summary.warnings).toEqual([`${join(root, "f.txt")} grew while being archived; cut at 4 bytes`]);
    expect((await oneFile("abcd", 4)).summary.warnings).toEqual([]);
    expect((await oneFile("x".repeat(READ_BUFFER_BYTES), READ_BUFFER_BYTES)).summary.warnings).toEqual([]);
  });

  test("a file that fits the read buffer is read in one call, its check for growth included", async () => {
    const reads = spyOn(fs, "readSync");
    try {
      const { summary } = await oneFile("abcd", 4);
      expect(summary.warnings).toEqual([]);
      expect(reads).toHaveBeenCalledTimes(1);
    } finally {
      reads.mockRestore();
    }
  });

  test("a file deleted between walk and build fails the source, naming the file", async () => {
    writeFileSync(join(root, "a.txt"), "a");
    writeFileSync(join(root, "gone.txt"), "g");
    const { entries } = await listWalk(root);
    unlinkSync(join(root, "gone.txt"));
    const err = await buildArchive(entrySourceOf(entries), { onChunk: () => {} }).catch((e) => e);
    expect(err.code).toBe("SOURCE");
    expect(err.message).toBe(`${join(root, "gone.txt")} vanished while being archived`);
  });

  test("a file replaced by a symlink is not followed", async () => {
    writeFileSync(join(root, "target"), "t");
    writeFileSync(join(root, "swap.txt"), "s");
    const { entries } = await listWalk(root);
    unlinkSync(join(root, "swap.txt"));
    symlinkSync("/etc/shadow", join(root, "swap.txt"));
    const err = await buildArchive(entrySourceOf(entries), { onChunk: () => {} }).catch((e) => e);
    expect(err.code).toBe("SOURCE");
    expect(err.message).toContain(join(root, "swap.txt"));
  });
});

describe("streaming", () => {
  test("onChunk is awaited: one call at a time, in order; its error ends the build", async () => {
    writeFileSync(join(root, "data.bin"), noise(2 * 1024 * 1024, 5));
    const { entries } = await listWalk(root);
    let inFlight = 0;
    const order: number[] = [];
    await buildArchive(entrySourceOf(entries), {
      onChunk: async (chunk) => {
        inFlight++;
        expect(inFlight).toBe(1);
        await Bun.sleep(1);
        order.push(chunk.index);
        inFlight--;
      },
    });
    expect(order).toEqual(order.map((_, i) => i));
    expect(order.length).toBeGreaterThan(10);
    const err = await buildArchive(entrySourceOf(entries), {
      onChunk: () => {
        throw new Error("disk full downstream");
      },
    }).catch((e) => e);
    expect(err.message).toBe("disk full downstream");
  });

  test("a file much larger than the buffers is streamed, not loaded (RSS stays bounded)", async () => {
    const big = join(root, "sparse.img");
    writeFileSync(big, "");
    truncateSync(big, 256 * 1024 * 1024);
    const { entries } = await listWalk(big);
    Bun.gc(true);
    const before = process.memoryUsage().rss;
    let peak = before;
    let count = 0;
    const summary = await buildArchive(entrySourceOf(entries), {
      onChunk: () => {
        if (++count % 256 === 0) peak = Math.max(peak, process.memoryUsage().rss);
      },
    });
    expect(summary.rawSize).toBe(512 + 256 * 1024 * 1024 + 1024);
    expect(peak - before).toBeLessThan(128 * 1024 * 1024);
  }, 30_000);
});

describe("with the last archive's source index", () => {
  /** Builds `src` as a backup does: walked straight into the builder, writing a new source index; `previous` given, unchanged stretches are not read. */
  async function buildIndexed(src: string, previous: SourceIndex | null) {
    const dir = join(root, `index-${Math.random().toString(16).slice(2)}`);
    const writer = new SourceIndexWriter(dir, previous);
    const chunks: { idHex: string; rawLength: number; reused: boolean; oldHeaders?: readonly OldHeader[]; patchedHex?: string }[] = [];
    const summary = await buildArchive(await TreeWalk.open(src, []), {
      compress: false,
      keyOf: (entry) => segmentKey(fingerprintLine(entry)),
      previous: previous?.previousStream(),
      onSegment: (segment) => writer.addSegment(segment),
      onChunk: (c) => {
        const patched = c.oldHeaders && withOldHeaders(c.raw!, c.oldHeaders);
        chunks.push({
          idHex: c.idHex,
          rawLength: c.rawLength,
          reused: c.reused !== null,
          oldHeaders: c.oldHeaders,
          patchedHex: patched ? sha(patched) : undefined,
        });
        writer.addChunk(c.reused !== null ? { id: c.id, rawLength: c.rawLength, from: c.reused } : blocksOf(c.id, c.raw!));
      },
    });
    await writer.finish(summary.archiveId);
    previous?.close();
    return { summary, chunks, index: SourceIndex.open(dir, summary.archiveId)! };
  }

  test("gives the chunks a full read gives, reading about what changed, however the tree changed", async () => {
    const src = makeTree();
    for (let i = 0; i < 300; i++)
      writeFileSync(join(src, `etc/conf-${String(i).padStart(3, "0")}.txt`), `setting ${i} = ${"x".repeat(i * 7)}\n`);
    let last = await buildIndexed(src, null);
    const edits: (() => void)[] = [
      () => writeFileSync(join(src, "etc/conf-150.txt"), "one line more\n", { flag: "a" }),
      () => writeFileSync(join(src, "etc/conf-150-new.txt"), "added\n"),
      () => unlinkSync(join(src, "etc/conf-010.txt")),
      () => renameSync(join(src, "bin"), join(src, "bin-renamed")),
      () => chmodSync(join(src, "page.html"), 0o600),
      () => {},
    ];
    for (const edit of edits) {
      edit();
      const next = await buildIndexed(src, last.index);
      const full = await build((await listWalk(src)).entries);
      expect(next.chunks.map((c) => c.idHex)).toEqual(full.chunks.map((c) => c.idHex));
      expect(next.summary.archiveId).toBe(full.summary.archiveId);
      // page.html (500 KiB) re-read for a mode change; otherwise a few chunks around the change
      // a few chunks around each change are cut again (page.html, 500 KiB, for a mode change), the rest taken unread
      const cut = next.chunks.filter((c) => !c.reused);
      expect(cut.reduce((n, c) => n + c.rawLength, 0)).toBeLessThan(next.summary.rawSize / 4);
      last = next;
    }
    expect(last.summary.bytesRead).toBe(0); // nothing changed: not a byte read
    last.index.close();
  });

  test("a file whose size or mtime moved: its header's old ones come with the chunk read, and give the old chunk back", async () => {
    const src = makeTree();
    const first = await buildIndexed(src, null);
    // secret.key: 8 bytes to 9, both one 512-byte block of content, so only its header's size, mtime and checksum change
    writeFileSync(join(src, "etc/secret.key"), "private!\n");
    utimesSync(join(src, "etc/secret.key"), 1_600_009_999, 1_600_009_999);
    const next = await buildIndexed(src, first.index);
    const changed = next.chunks.filter((c) => !first.chunks.some((o) => o.idHex === c.idHex));
    expect(changed.length).toBe(1);
    expect(changed[0]!.oldHeaders).toEqual([{ at: expect.any(Number), size: 8, mtime: 1_600_000_100 }]);
    // the content byte differs too: the chunk as it was but for it
    expect(changed[0]!.patchedHex).not.toBe(changed[0]!.idHex);
    // now the mtime alone
    utimesSync(join(src, "with space.txt"), 1_600_005_000, 1_600_005_000);
    const last = await buildIndexed(src, next.index);
    const read = last.chunks.filter((c) => c.oldHeaders);
    expect(read.flatMap((c) => c.oldHeaders!.map(({ size, mtime }) => ({ size, mtime })))).toEqual([{ size: 7, mtime: 1_600_000_400 }]);
    // the header put back as it was: the chunk `next` had
    expect(next.chunks.map((o) => o.idHex)).toContain(read[0]!.patchedHex!);
    last.index.close();
  });
});
