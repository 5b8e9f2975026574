// Detection of encrypted replacements on archives built by the client's own builder from real trees.
import { afterAll, describe, expect, test } from "bun:test";
import { createCipheriv, randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { buildArchive } from "../client/archive-builder.ts";
import { TreeWalk } from "../client/tree-walk.ts";
import type { MemberRecord } from "./index-entry.ts";
import { DEFAULT_SUSPECT_RULES, judgeReplacement } from "./suspect-replacement.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

/** The members the server would index for `dir` backed up now: [id, offset, compressed length, raw length]. */
async function membersOf(dir: string): Promise<MemberRecord[]> {
  const walk = await TreeWalk.open(dir, []);
  const out: MemberRecord[] = [];
  let offset = 0;
  await buildArchive(walk, {
    onChunk: (c) => {
      out.push([c.idHex, offset, c.member!.length, c.rawLength]);
      offset += c.member!.length;
    },
  });
  return out;
}

const WORDS = "the quick brown fox jumps over a lazy dog while the server keeps every archive of each client and name safe".split(" ");
function prose(seed: number, length: number): string {
  let state = seed >>> 0 || 1;
  let text = "";
  while (text.length < length) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    text += WORDS[state % WORDS.length] + (state % 11 === 0 ? ".\n" : " ");
  }
  return text.slice(0, length);
}

/** `count` text files of min..max bytes in 10 folders. */
function textTree(count: number, min: number, max: number): { dir: string; files: string[] } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hr-suspect-"));
  dirs.push(dir);
  const files: string[] = [];
  for (let i = 0; i < count; i++) {
    const file = path.join(dir, `d${i % 10}`, `note-${i}.txt`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, prose(i + 1, min + ((i * 7919) % (max - min))));
    files.push(file);
  }
  return { dir, files };
}

/** What ransomware does: every file replaced by its AES-256-CTR encryption under a random key. */
function encryptAll(files: string[]): void {
  for (const file of files) {
    const cipher = createCipheriv("aes-256-ctr", randomBytes(32), randomBytes(16));
    fs.writeFileSync(file, Buffer.concat([cipher.update(fs.readFileSync(file)), cipher.final()]));
  }
}

/** The verdict on a tree of `count` text files of min..max bytes after every file was encrypted. */
async function encryptedVerdict(count: number, min: number, max: number, rules = DEFAULT_SUSPECT_RULES) {
  const { dir, files } = textTree(count, min, max);
  const before = await membersOf(dir);
  encryptAll(files);
  return judgeReplacement(before, await membersOf(dir), rules);
}

describe("an encrypted replacement is suspect", () => {
  test("200 small text files (1-6 KB) encrypted with random keys", async () => {
    const verdict = await encryptedVerdict(200, 1000, 6000);
    expect(verdict.suspect).toBe(true);
    expect(verdict.shared).toBeLessThan(0.01);
    expect(verdict.previousRatio).toBeLessThan(0.3);
    expect(verdict.newRatio).toBeGreaterThan(0.6);
    expect(verdict.reason).toMatch(/^shares 0% of its predecessor's data, compression ratio 0\.\d\d → 0\.\d\d: looks encrypted$/);
  });

  test("even 200 tiny files (50-400 B), where tar headers and padding still compress", async () => {
    const verdict = await encryptedVerdict(200, 50, 400);
    expect(verdict.suspect).toBe(true);
    expect(verdict.newRatio).toBeLessThan(0.4); // the margin these defaults were chosen for
  });

  test("maxShared 0 turns detection off", async () => {
    expect((await encryptedVerdict(50, 1000, 6000, { ...DEFAULT_SUSPECT_RULES, maxShared: 0 })).suspect).toBe(false);
  });
});

describe("legitimate changes are not suspect", () => {
  test("a normal edit: a few files appended to", async () => {
    const { dir, files } = textTree(200, 1000, 6000);
    const before = await membersOf(dir);
    for (const file of files.slice(0, 5)) fs.appendFileSync(file, "one more line\n");
    const verdict = judgeReplacement(before, await membersOf(dir), DEFAULT_SUSPECT_RULES);
    expect(verdict.suspect).toBe(false);
    expect(verdict.shared).toBeGreaterThan(0.3);
  });

  test("half the files rewritten: almost no chunk is shared (chunks span many small files), the ratio does not move", async () => {
    const { dir, files } = textTree(200, 1000, 6000);
    const before = await membersOf(dir);
    files.forEach((file, i) => i % 2 === 0 && fs.writeFileSync(file, prose(9000 + i, 1000 + ((i * 31) % 5000))));
    const verdict = judgeReplacement(before, await membersOf(dir), DEFAULT_SUSPECT_RULES);
    expect(verdict.shared).toBeLessThan(DEFAULT_SUSPECT_RULES.maxShared); // the share alone would flag it
    expect(Math.abs(verdict.newRatio - verdict.previousRatio)).toBeLessThan(0.02);
    expect(verdict.suspect).toBe(false);
  });

  test("random-like media (JPEG, zip): re-created unchanged, lightly changed, or all replaced", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hr-suspect-media-"));
    dirs.push(dir);
    const names = Array.from({ length: 12 }, (_, i) => path.join(dir, `IMG_${1000 + i}.jpg`));
    for (const file of names) fs.writeFileSync(file, randomBytes(150_000 + names.indexOf(file) * 1000));
    const first = await membersOf(dir);
    for (const file of names) {
      const bytes = fs.readFileSync(file);
      fs.rmSync(file);
      fs.writeFileSync(file, bytes);
    }
    const recreated = await membersOf(dir);
    for (const file of names.slice(0, 2)) fs.writeFileSync(file, randomBytes(120_000));
    const light = await membersOf(dir);
    for (const file of names) fs.writeFileSync(file, randomBytes(140_000));
    const replaced = await membersOf(dir);
    const verdicts = [
      judgeReplacement(first, recreated, DEFAULT_SUSPECT_RULES),
      judgeReplacement(recreated, light, DEFAULT_SUSPECT_RULES),
      judgeReplacement(light, replaced, DEFAULT_SUSPECT_RULES),
    ];
    expect(verdicts.map((v) => v.suspect)).toEqual([false, false, false]);
    expect(verdicts[0]!.shared).toBeGreaterThan(0.2); // chunks inside file contents; those with a tar header differ when the mtime second did
    expect(verdicts[2]!.shared).toBeLessThan(0.01); // nothing shared, but the ratio was ~1 already
  });

  test("a small text source that gains a large incompressible file grew: not a replacement", async () => {
    const { dir } = textTree(5, 200, 2000);
    const before = await membersOf(dir);
    fs.writeFileSync(path.join(dir, "disk.img"), randomBytes(2 * 1024 * 1024));
    const verdict = judgeReplacement(before, await membersOf(dir), DEFAULT_SUSPECT_RULES);
    expect(verdict.shared).toBeLessThan(0.01);
    expect(verdict.newRatio - verdict.previousRatio).toBeGreaterThan(0.5); // ratios alone would flag it
    expect(verdict.suspect).toBe(false);
  });

  test("an empty predecessor or an empty new archive is never suspect", () => {
    const encrypted: MemberRecord[] = [["a".repeat(64), 0, 1010, 1000]];
    const text: MemberRecord[] = [["b".repeat(64), 0, 100, 1000]];
    expect(judgeReplacement([], encrypted, DEFAULT_SUSPECT_RULES).suspect).toBe(false);
    expect(judgeReplacement(text, [], DEFAULT_SUSPECT_RULES).suspect).toBe(false);
    expect(judgeReplacement(text, encrypted, DEFAULT_SUSPECT_RULES).suspect).toBe(true);
  });
});
