// The bench's real-files data set: a tree copied from the frozen corpus, a generated disk image, and the C/E edits on real files.
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { T0, T_C, summarizeTree, writeImage, type DatasetPlan, type DatasetSummary, type MutationC } from "./dataset.ts";
import { corpusBytes, type Corpus, type CorpusEntry } from "./real-corpus.ts";
import type { MutationE } from "./scenarios.ts";
import { Rng } from "./seeded-random.ts";

const MiB = 1024 * 1024;
/** Files held out of the tree: scenario C adds them (real files the tree has never held). */
const ADDED = 20;
const ADDED_MAX = 16 * 1024;
const DELETED = 10;
const T_E = T0 + 3 * 86_400;

export interface RealPlan {
  options: { seed: number; scale: number };
  /** The small files in the tree, by path; updated by scenario C. */
  small: CorpusEntry[];
  /** The files scenario C adds. */
  reserve: CorpusEntry[];
  binaries: CorpusEntry[];
  image: DatasetPlan["image"];
}

/** A corpus file's path in the tree: its path on the machine it came from, without the leading slash. */
export const treePath = (e: CorpusEntry) => e.path.replace(/^\/+/, "");

const orderKey = (seed: number, e: CorpusEntry) => createHash("sha256").update(`real/${seed}/${e.path}`).digest("hex");

/**
 * Which corpus files the tree holds at this scale (1: every small file but the 20 held back, 131 MiB of programs,
 * a 200 MiB image); a pure function of the corpus, seed and scale.
 */
export function planReal(corpus: Corpus, options: { seed: number; scale: number }): RealPlan {
  const small = corpus.entries.filter((e) => e.part === "small");
  const shuffled = small
    .map((e) => ({ e, key: orderKey(options.seed, e) }))
    .sort((a, b) => (a.key < b.key ? -1 : 1))
    .map((x) => x.e);
  // added files as small as most (three quarters of the corpus is under 16 KiB): C's floor is then the edits'
  // and the typical new file's, not one large file's
  const reserve = shuffled.filter((e) => e.size <= ADDED_MAX).slice(0, ADDED);
  const held = new Set(reserve);
  const rest = shuffled.filter((e) => !held.has(e));
  const count = Math.min(rest.length, Math.max(ADDED + DELETED + 10, Math.round(rest.length * options.scale)));
  const binaries: CorpusEntry[] = [];
  let total = 0;
  for (const e of corpus.entries.filter((x) => x.part === "binary")) {
    if (total + e.size > 131 * MiB * options.scale) continue;
    binaries.push(e);
    total += e.size;
  }
  return {
    options,
    small: rest.slice(0, count).sort((a, b) => (a.path < b.path ? -1 : 1)),
    reserve,
    binaries,
    image: { path: "images/disk.img", size: Math.max(MiB, Math.round(200 * options.scale) * MiB), label: `real/${options.seed}/image` },
  };
}

/** A file's mtime in the tree: spread over the year before T0, a pure function of its path. */
const mtimeOf = (rel: string) => T0 - new Rng(`real/mtime/${rel}`).int(365 * 86_400);

function copyIn(root: string, corpus: Corpus, e: CorpusEntry, mtime: number): Buffer {
  const file = path.join(root, treePath(e));
  const data = corpusBytes(corpus, e);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, data, { mode: e.mode });
  fs.utimesSync(file, mtime, mtime);
  return data;
}

/** Writes the tree under root (which must not exist): the plan's corpus files, then the image. */
export function writeRealTree(root: string, corpus: Corpus, plan: RealPlan): DatasetSummary {
  fs.mkdirSync(root, { recursive: true });
  let smallBytes = 0;
  for (const e of plan.small) smallBytes += copyIn(root, corpus, e, mtimeOf(treePath(e))).length;
  let binaryBytes = 0;
  for (const e of plan.binaries) binaryBytes += copyIn(root, corpus, e, mtimeOf(treePath(e))).length;
  const imageMix = writeImage(root, plan.image, mtimeOf(plan.image.path));
  return summarizeTree(root, plan, smallBytes, binaryBytes, imageMix);
}

/** Text to edit: no NUL byte and at least 4 lines (docs that ship gzip'd, and data files, are left alone). */
function isText(data: Buffer): boolean {
  if (data.includes(0)) return false;
  let lines = 0;
  for (let i = data.indexOf(10); i >= 0 && lines < 4; i = data.indexOf(10, i + 1)) lines++;
  return lines >= 4;
}

/** A line (no newline) from a random text file of the tree, at most 200 bytes: what an edit writes. */
function donorLine(root: string, plan: RealPlan, rng: Rng): string {
  for (;;) {
    const data = fs.readFileSync(path.join(root, treePath(rng.pick(plan.small))));
    if (!isText(data)) continue;
    const lines = data.toString("latin1").split("\n");
    const line = lines[rng.int(lines.length)]!;
    if (line.trim().length > 0 && line.length <= 200) return line;
  }
}

/** Replaces, inserts or deletes 2-4 lines at random places of one file; returns the lines it wrote. */
function editLines(root: string, plan: RealPlan, rel: string, rng: Rng): { text: string; written: string[] } {
  const lines = fs.readFileSync(path.join(root, rel)).toString("latin1").split("\n");
  const written: string[] = [];
  for (let k = rng.range(2, 4); k > 0; k--) {
    const at = rng.int(lines.length);
    const op = rng.int(3);
    if (op === 2 && lines.length > 2) lines.splice(at, 1);
    else {
      const line = donorLine(root, plan, rng);
      lines.splice(at, op === 0 ? 1 : 0, line);
      written.push(line);
    }
  }
  return { text: lines.join("\n"), written };
}

/**
 * Scenario C on the real tree: edits 2-4 lines (replaced, inserted or deleted) in 1% of the small files (text ones),
 * adds the 20 held-back files and deletes 10; touched files and folders get mtime T_C. Deterministic from the seed.
 */
export function mutateRealFiles(root: string, corpus: Corpus, plan: RealPlan): MutationC {
  const rng = new Rng(`real/${plan.options.seed}/mutation-c`);
  const n = plan.small.length;
  const editCount = Math.max(1, Math.round(n * 0.01));
  const chosen = new Set<number>();
  const edited: string[] = [];
  const changed: Buffer[] = [];
  const whole: Buffer[] = [];
  const touchedDirs = new Set<string>();
  while (edited.length < editCount) {
    const i = rng.int(n);
    if (chosen.has(i)) continue;
    chosen.add(i);
    const rel = treePath(plan.small[i]!);
    if (!isText(fs.readFileSync(path.join(root, rel)))) continue;
    const { text, written } = editLines(root, plan, rel, rng);
    fs.writeFileSync(path.join(root, rel), text, "latin1");
    fs.utimesSync(path.join(root, rel), T_C, T_C);
    for (const line of written) changed.push(Buffer.from(`${line}\n`, "latin1"));
    whole.push(Buffer.from(text, "latin1"));
    edited.push(rel);
  }
  const deleted: string[] = [];
  while (deleted.length < DELETED) {
    const i = rng.int(n);
    if (chosen.has(i)) continue;
    chosen.add(i);
    const rel = treePath(plan.small[i]!);
    fs.rmSync(path.join(root, rel));
    touchedDirs.add(path.dirname(rel));
    deleted.push(rel);
  }
  for (const e of plan.reserve) {
    const data = copyIn(root, corpus, e, T_C);
    touchedDirs.add(path.dirname(treePath(e)));
    changed.push(data);
    whole.push(data);
  }
  for (const d of touchedDirs) fs.utimesSync(path.join(root, d), T_C, T_C);
  const gone = new Set(deleted);
  plan.small = plan.small.filter((e) => !gone.has(treePath(e))).concat(plan.reserve);
  const changedBytes = Buffer.concat(changed);
  const wholeBytes = Buffer.concat(whole);
  return {
    edited,
    added: plan.reserve.map(treePath),
    deleted,
    changedBytes: changedBytes.length,
    changedGzip: gzipSync(changedBytes, { level: 6 }).length,
    wholeFilesBytes: wholeBytes.length,
    wholeFilesGzip: gzipSync(wholeBytes, { level: 6 }).length,
  };
}

/** Scenario E on the real tree: one line from another file appended to one text file, which gets mtime T_E. */
export function appendRealLine(root: string, plan: RealPlan): MutationE {
  const rng = new Rng(`real/${plan.options.seed}/mutation-e`);
  for (;;) {
    const rel = treePath(rng.pick(plan.small));
    const abs = path.join(root, rel);
    const data = fs.readFileSync(abs);
    if (!isText(data) || data.at(-1) !== 10) continue;
    const line = Buffer.from(`${donorLine(root, plan, rng)}\n`, "latin1");
    fs.appendFileSync(abs, line);
    fs.utimesSync(abs, T_E, T_E);
    return { file: rel, lineBytes: line.length, lineGzip: gzipSync(line, { level: 6 }).length };
  }
}
