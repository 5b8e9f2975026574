// The bench's data set: a deterministic tree (small text files, 12 binaries, one mixed-block disk image) and the C/D mutations.
import fs from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { Rng, keystream } from "./seeded-random.ts";
import { TEXT_KINDS, pathWord, textFile, textLine, type TextKind } from "./text-gen.ts";
import { binaryContent, imageRegionContent, imageRegions, type BinaryKind, type ImageRegionKind } from "./binary-content.ts";

export interface DatasetOptions {
  seed: number;
  /** 1.0 = the tree: 20,000 small files, 131 MiB of binaries, a 200 MiB image (about 411 MiB). */
  scale: number;
}

export interface SmallFile {
  path: string;
  kind: TextKind;
  size: number;
  label: string;
}

export interface BinaryFile {
  path: string;
  kind: BinaryKind;
  size: number;
  label: string;
}

export interface DatasetPlan {
  options: DatasetOptions;
  dirs: string[];
  small: SmallFile[];
  binaries: BinaryFile[];
  image: { path: string; size: number; label: string };
}

export interface DatasetSummary {
  files: number;
  dirs: number;
  bytes: number;
  smallFiles: number;
  smallBytes: number;
  binaryBytes: number;
  imageBytes: number;
  imageMix: Record<ImageRegionKind, number>;
}

export interface MutationC {
  edited: string[];
  added: string[];
  deleted: string[];
  /** The new lines written by the edits plus the added files, raw and gzip -6 (one stream). */
  changedBytes: number;
  changedGzip: number;
  /** Every edited file whole plus the added files, raw and gzip -6 (one stream). */
  wholeFilesBytes: number;
  wholeFilesGzip: number;
}

export interface MutationD {
  blocks: number[];
  changedBytes: number;
  changedGzip: number;
}

const MiB = 1024 * 1024;
const SMALL_FILES = 20_000;
/** Names, kinds and sizes (MiB at scale 1) of the 12 binaries; "W" is replaced by a drawn word. */
const BINARIES: readonly [string, BinaryKind, number][] = [
  ["media/video/W.mp4", "random", 30],
  ["media/photos/W.jpg", "random", 6],
  ["backups/W.zip", "random", 12],
  ["dist/W.tar.xz", "random", 8],
  ["opt/W/bin/W", "executable", 20],
  ["usr/lib/libW.so.1", "executable", 14],
  ["opt/W/bin/W-helper", "executable", 9],
  ["usr/lib/libW.so.2", "executable", 6],
  ["usr/bin/W", "executable", 4],
  ["var/lib/W/W.db", "database", 14],
  ["var/lib/W/index.db", "database", 6],
  ["lib/firmware/W.bin", "firmware", 2],
];
const IMAGE_MIB = 200;
/** Where each group of text kinds lives, like a server's file system. */
const GROUPS: readonly { top: string; kinds: TextKind[]; depth: [number, number] }[] = [
  { top: "etc", kinds: ["conf", "yaml", "json"], depth: [1, 2] },
  { top: "var/log", kinds: ["log"], depth: [1, 2] },
  { top: "srv", kinds: ["ts", "py", "c", "sh"], depth: [2, 4] },
  { top: "home", kinds: ["md", "txt", "csv", "html"], depth: [2, 3] },
];
/** Fixed times so the tree's metadata is as deterministic as its content. */
export const T0 = Date.UTC(2024, 5, 1) / 1000;
export const T_C = T0 + 86_400;
export const T_D = T0 + 2 * 86_400;

const round4k = (n: number) => Math.max(4096, Math.round(n / 4096) * 4096);

/** Log-normal sizes (median 2.3 KiB, mean about 4 KiB, 100 B to 128 KiB), as in /etc, /srv and home folders. */
function smallSize(rng: Rng, kind: TextKind): number {
  const size = Math.round(2350 * Math.exp(rng.normal()) * (kind === "log" ? 1.6 : 1));
  return Math.min(128 * 1024, Math.max(100, size));
}

function uniqueName(taken: Set<string>, base: string, ext: string): string {
  let name = `${base}${ext}`;
  for (let i = 2; taken.has(name); i++) name = `${base}-${i}${ext}`;
  taken.add(name);
  return name;
}

/** Everything about the tree but the bytes; a pure function of the options. */
export function planDataset(options: DatasetOptions): DatasetPlan {
  const { seed, scale } = options;
  const rng = new Rng(`bench/${seed}/plan`);
  const count = Math.max(20, Math.round(SMALL_FILES * scale));
  const kindWeights = TEXT_KINDS.map((k) => k.weight);
  const dirsByGroup = GROUPS.map(() => [] as string[]);
  const allDirs = new Set<string>();
  const namesInDir = new Map<string, Set<string>>();
  const small: SmallFile[] = [];
  for (let i = 0; i < count; i++) {
    const k = TEXT_KINDS[rng.weighted(kindWeights)]!;
    const g = GROUPS.findIndex((group) => group.kinds.includes(k.kind));
    const dirs = dirsByGroup[g]!;
    // About 50 files per folder: open a new folder when the group outgrows its folders.
    if (dirs.length === 0 || rng.int(50) === 0) {
      const group = GROUPS[g]!;
      const parent = dirs.length > 0 && rng.int(2) === 0 ? rng.pick(dirs) : group.top;
      let dir = path.posix.join(parent, pathWord(rng, rng.range(1, 2)));
      while (dir.split("/").length < group.top.split("/").length + group.depth[0]) dir = path.posix.join(dir, pathWord(rng));
      if (!allDirs.has(dir)) {
        allDirs.add(dir);
        dirs.push(dir);
      }
    }
    const dir = rng.pick(dirs);
    const taken = namesInDir.get(dir) ?? new Set<string>();
    namesInDir.set(dir, taken);
    const name = uniqueName(taken, pathWord(rng, rng.range(1, 2)), k.ext);
    small.push({ path: `${dir}/${name}`, kind: k.kind, size: smallSize(rng, k.kind), label: `bench/${seed}/small/${i}` });
  }
  const binaries = BINARIES.map(([template, kind, mib], i) => ({
    path: template.replace(/W/g, pathWord(rng)),
    kind,
    size: round4k(mib * MiB * scale),
    label: `bench/${seed}/binary/${i}`,
  }));
  const image = {
    path: `images/${pathWord(rng)}.img`,
    size: Math.max(MiB, Math.round(IMAGE_MIB * scale) * MiB),
    label: `bench/${seed}/image`,
  };
  return { options, dirs: [...allDirs].sort(), small, binaries, image };
}

function fileTime(label: string): number {
  return T0 - new Rng(`${label}/mtime`).int(365 * 86_400);
}

function writeFile(root: string, rel: string, data: string | Buffer, mtime: number, mode = 0o644): void {
  const file = path.join(root, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, data, { mode });
  fs.utimesSync(file, mtime, mtime);
}

/** Every folder under root (relative), deepest first. */
function foldersOf(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      if (e.isDirectory()) {
        const r = rel ? `${rel}/${e.name}` : e.name;
        walk(r);
        out.push(r);
      }
    }
  };
  walk("");
  return out;
}

/** Writes the disk image (its regions drawn from its label) at root/image.path with the given mtime; returns its mix of kinds. */
export function writeImage(root: string, image: DatasetPlan["image"], mtime: number): Record<ImageRegionKind, number> {
  const imageFile = path.join(root, image.path);
  fs.mkdirSync(path.dirname(imageFile), { recursive: true });
  const fd = fs.openSync(imageFile, "w", 0o644);
  const imageMix: Record<ImageRegionKind, number> = { zeros: 0, text: 0, random: 0, pattern: 0 };
  try {
    imageRegions(image.label, image.size).forEach((region, i) => {
      fs.writeSync(fd, imageRegionContent(image.label, i, region), 0, region.length, region.offset);
      imageMix[region.kind] += region.length;
    });
  } finally {
    fs.closeSync(fd);
  }
  fs.utimesSync(imageFile, mtime, mtime);
  return imageMix;
}

/** Gives every folder under root, and root, mtime T0; returns the folders (relative, deepest first). */
export function stampFolders(root: string): string[] {
  const dirs = foldersOf(root);
  for (const d of dirs) fs.utimesSync(path.join(root, d), T0, T0);
  fs.utimesSync(root, T0, T0);
  return dirs;
}

/** Writes the tree under root (which must not exist). Throws on any file system error. */
export function writeDataset(root: string, plan: DatasetPlan): DatasetSummary {
  fs.mkdirSync(root, { recursive: true });
  let smallBytes = 0;
  for (const f of plan.small) {
    const text = textFile(f.kind, f.label, f.size);
    writeFile(root, f.path, text, fileTime(f.label), f.kind === "sh" ? 0o755 : 0o644);
    smallBytes += text.length;
  }
  let binaryBytes = 0;
  for (const b of plan.binaries) {
    writeFile(root, b.path, binaryContent(b.kind, b.label, b.size), fileTime(b.label), b.kind === "executable" ? 0o755 : 0o644);
    binaryBytes += b.size;
  }
  const imageMix = writeImage(root, plan.image, fileTime(plan.image.label));
  return summarizeTree(root, plan, smallBytes, binaryBytes, imageMix);
}

/**
 * What a written tree holds, with its folders stamped (stampFolders): `plan`'s small files and
 * binaries, their bytes as written, and the image and its mix.
 */
export function summarizeTree(
  root: string,
  plan: { small: readonly unknown[]; binaries: readonly unknown[]; image: { size: number } },
  smallBytes: number,
  binaryBytes: number,
  imageMix: Record<ImageRegionKind, number>,
): DatasetSummary {
  const dirs = stampFolders(root);
  return {
    files: plan.small.length + plan.binaries.length + 1,
    dirs: dirs.length,
    bytes: smallBytes + binaryBytes + plan.image.size,
    smallFiles: plan.small.length,
    smallBytes,
    binaryBytes,
    imageBytes: plan.image.size,
    imageMix,
  };
}

/**
 * Scenario C on the tree written from plan: edits 2-4 lines in 1% of the small files, adds 20 files and deletes 10;
 * touched files and their folders get mtime T_C. Updates plan.small to the new tree. Deterministic from the seed.
 */
export function mutateSmallFiles(root: string, plan: DatasetPlan): MutationC {
  const { seed } = plan.options;
  const rng = new Rng(`bench/${seed}/mutation-c`);
  const n = plan.small.length;
  const editCount = Math.max(1, Math.round(n * 0.01));
  const order: number[] = [];
  const chosen = new Set<number>();
  while (order.length < editCount + 10) {
    const i = rng.int(n);
    if (!chosen.has(i)) order.push(i), chosen.add(i);
  }
  const editIdx = order.slice(0, editCount);
  const deleteIdx = order.slice(editCount);
  const changed: string[] = [];
  const whole: string[] = [];
  const touchedDirs = new Set<string>();
  const edited: string[] = [];
  for (const i of editIdx) {
    const f = plan.small[i]!;
    const file = path.join(root, f.path);
    const lines = fs.readFileSync(file, "utf8").split("\n");
    const editable = lines.map((l, j) => (l.trim().length > 0 ? j : -1)).filter((j) => j >= 0);
    const count = Math.min(editable.length, rng.range(2, 4));
    for (const pick of rng.sample(editable.length, count)) {
      const j = editable[pick]!;
      lines[j] = textLine(f.kind, f.label, `${f.label}/edit/${j}`);
      changed.push(lines[j]!);
    }
    const text = lines.join("\n");
    fs.writeFileSync(file, text);
    fs.utimesSync(file, T_C, T_C);
    whole.push(text);
    edited.push(f.path);
  }
  const deleted = deleteIdx.map((i) => plan.small[i]!.path);
  for (const p of deleted) {
    fs.rmSync(path.join(root, p));
    touchedDirs.add(path.posix.dirname(p));
  }
  const added: SmallFile[] = [];
  for (let a = 0; a < 20; a++) {
    const like = plan.small[rng.int(n)]!;
    const dir = path.posix.dirname(like.path);
    const ext = TEXT_KINDS.find((k) => k.kind === like.kind)!.ext;
    let name = `${pathWord(rng, 2)}${ext}`;
    while (fs.existsSync(path.join(root, dir, name))) name = `${pathWord(rng, 2)}-${rng.int(1000)}${ext}`;
    const f: SmallFile = { path: `${dir}/${name}`, kind: like.kind, size: smallSize(rng, like.kind), label: `bench/${seed}/added/${a}` };
    const text = textFile(f.kind, f.label, f.size);
    writeFile(root, f.path, text, T_C);
    touchedDirs.add(dir);
    changed.push(text);
    whole.push(text);
    added.push(f);
  }
  for (const d of touchedDirs) fs.utimesSync(path.join(root, d), T_C, T_C);
  const gone = new Set(deleted);
  plan.small = plan.small.filter((f) => !gone.has(f.path)).concat(added);
  const changedText = changed.join("\n");
  const wholeText = whole.join("");
  return {
    edited,
    added: added.map((f) => f.path),
    deleted,
    changedBytes: Buffer.byteLength(changedText),
    changedGzip: gzipSync(changedText, { level: 6 }).length,
    wholeFilesBytes: Buffer.byteLength(wholeText),
    wholeFilesGzip: gzipSync(wholeText, { level: 6 }).length,
  };
}

/** Scenario D: overwrites 16 distinct 4 KiB-aligned blocks of the image with random bytes; the image gets mtime T_D. */
export function overwriteImageBlocks(root: string, plan: Pick<DatasetPlan, "options" | "image">): MutationD {
  const { seed } = plan.options;
  const rng = new Rng(`bench/${seed}/mutation-d`);
  const blocks = rng.sample(plan.image.size / 4096, 16);
  const file = path.join(root, plan.image.path);
  const fd = fs.openSync(file, "r+");
  const written: Buffer[] = [];
  try {
    for (const b of blocks) {
      const bytes = keystream(`bench/${seed}/mutation-d/${b}`, 4096);
      fs.writeSync(fd, bytes, 0, 4096, b * 4096);
      written.push(bytes);
    }
  } finally {
    fs.closeSync(fd);
  }
  fs.utimesSync(file, T_D, T_D);
  const all = Buffer.concat(written);
  return { blocks, changedBytes: all.length, changedGzip: gzipSync(all, { level: 6 }).length };
}

if (import.meta.main) {
  // bun build/bench/dataset.ts --out DIR [--seed 1] [--scale 1.0]: writes the tree alone, for a look at it.
  const arg = (name: string, fallback: string) => {
    const i = process.argv.indexOf(name);
    return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
  };
  const out = arg("--out", "");
  if (!out || fs.existsSync(out)) {
    console.error("usage: bun build/bench/dataset.ts --out NEW_DIR [--seed 1] [--scale 1.0]");
    process.exit(2);
  }
  const started = performance.now();
  const summary = writeDataset(out, planDataset({ seed: Number(arg("--seed", "1")), scale: Number(arg("--scale", "1")) }));
  console.log(JSON.stringify({ ...summary, seconds: Math.round((performance.now() - started) / 100) / 10 }, null, 2));
}
