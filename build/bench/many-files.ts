// The bench's many-files data set: a deterministic tree of small text files (1,000,000 by default) in folders of 1,000.
import fs from "node:fs";
import path from "node:path";
import { T0 } from "./dataset.ts";
import type { DatasetSummary } from "./dataset.ts";
import { Rng } from "./seeded-random.ts";
import { TEXT_KINDS, pathWord, textFile, type TextKind } from "./text-gen.ts";

export interface ManyFilesOptions {
  seed: number;
  /** How many files (1,000,000: the issue's tree). */
  files: number;
}

/** Files per folder: a walk holds one folder's names at a time. */
const PER_FOLDER = 1000;
/** Folders per top-level group. */
const PER_GROUP = 100;
const KINDS: readonly TextKind[] = ["log", "conf", "txt", "md", "json", "py"];

/** The path (relative), kind and label of file `i`: a pure function of the seed and i. */
export function manyFilesEntry(options: ManyFilesOptions, i: number): { path: string; kind: TextKind; label: string } {
  const folder = Math.floor(i / PER_FOLDER);
  const group = Math.floor(folder / PER_GROUP);
  const kind = KINDS[i % KINDS.length]!;
  const ext = TEXT_KINDS.find((k) => k.kind === kind)!.ext;
  const name = `${String(i % PER_FOLDER).padStart(4, "0")}-${pathWord(new Rng(`many/${options.seed}/name/${i}`))}${ext}`;
  return {
    path: `g${String(group).padStart(3, "0")}/d${String(folder).padStart(5, "0")}/${name}`,
    kind,
    label: `many/${options.seed}/file/${i}`,
  };
}

/**
 * Writes the tree under root (which must not exist): `files` text files of 40 B to 0.8 KiB (one
 * 4 KiB block each), mtimes spread over the year before T0, folders at T0.
 * About 4 GiB on disk and 0.1 GiB of archive for a million files. Throws on any file system error.
 */
export function writeManyFiles(root: string, options: ManyFilesOptions): DatasetSummary {
  const rng = new Rng(`many/${options.seed}/content`);
  let bytes = 0;
  const folders = new Set<string>();
  for (let i = 0; i < options.files; i++) {
    const entry = manyFilesEntry(options, i);
    const dir = path.join(root, path.dirname(entry.path));
    if (!folders.has(dir)) {
      fs.mkdirSync(dir, { recursive: true });
      folders.add(dir);
    }
    // one vocabulary per folder and kind, as files of one application share their words
    const text = textFile(entry.kind, entry.label, rng.range(40, 700), `${path.dirname(entry.path)}/${entry.kind}`);
    const file = path.join(root, entry.path);
    fs.writeFileSync(file, text);
    const mtime = T0 - rng.int(365 * 86_400);
    fs.utimesSync(file, mtime, mtime);
    bytes += text.length;
  }
  const groups = new Set([...folders].map((d) => path.dirname(d)));
  for (const d of [...folders, ...groups, root]) fs.utimesSync(d, T0, T0);
  return {
    files: options.files,
    dirs: folders.size + groups.size,
    bytes,
    smallFiles: options.files,
    smallBytes: bytes,
    binaryBytes: 0,
    imageBytes: 0,
    imageMix: { zeros: 0, text: 0, random: 0, pattern: 0 },
  };
}
