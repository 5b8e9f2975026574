// The real-files corpus: files copied once from this machine into a cache, frozen by a manifest of their SHA-256.
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";

/** One file of the corpus: where it came from (absolute path on the machine that froze it), its size, mode and SHA-256. */
export interface CorpusEntry {
  path: string;
  size: number;
  mode: number;
  sha256: string;
  /** small: source, headers, docs, config (100 B to 256 KiB); binary: an ELF program from /usr/bin. */
  part: "small" | "binary";
}

export interface Corpus {
  /** The cache folder: files/ (the copies, under their original paths) and manifest.json. */
  dir: string;
  /** SHA-256 of the manifest's entries: two runs with the same id ran on the same bytes. */
  id: string;
  frozenAt: string;
  frozenOn: string;
  entries: CorpusEntry[];
}

/** Where small files come from, like a Debian workstation's source, headers, docs and config. */
const SMALL_SOURCES = ["/usr/include", "/usr/lib/python3.11", "/usr/lib/python3/dist-packages", "/usr/share/doc", "/etc"];
const SMALL_MIN = 100;
const SMALL_MAX = 256 * 1024;
/** At most this many small files (the generated tree has 20,000). */
const SMALL_LIMIT = 20_000;
/** ELF programs from /usr/bin, each at most 32 MiB, up to 131 MiB in all (the generated tree's binaries). */
const BINARY_SOURCE = "/usr/bin";
const BINARY_MAX = 32 * 1024 * 1024;
const BINARY_TOTAL = 131 * 1024 * 1024;

const sha256 = (data: Uint8Array | string) => createHash("sha256").update(data).digest("hex");

/** Regular, readable files under root (symlinks not followed), sorted by path. */
function regularFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return; // unreadable folder: not part of the corpus
    }
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push(p);
    }
  };
  if (fs.existsSync(root)) walk(root);
  return out.sort();
}

function readable(file: string): Buffer | null {
  try {
    return fs.readFileSync(file);
  } catch {
    return null;
  }
}

/** The files to freeze on this machine: the small files and the ELF programs, in a fixed order. */
function chooseFiles(): { file: string; part: CorpusEntry["part"] }[] {
  const small = SMALL_SOURCES.flatMap(regularFiles)
    .filter((f) => {
      const size = fs.statSync(f).size;
      return size >= SMALL_MIN && size <= SMALL_MAX;
    })
    .slice(0, SMALL_LIMIT);
  // programs in the order of their name's hash, so the pick does not favour one end of the alphabet
  const programs = regularFiles(BINARY_SOURCE)
    .map((file) => ({ file, key: sha256(path.basename(file)) }))
    .sort((a, b) => (a.key < b.key ? -1 : 1));
  const binaries: string[] = [];
  let total = 0;
  for (const { file } of programs) {
    const size = fs.statSync(file).size;
    if (size > BINARY_MAX || total + size > BINARY_TOTAL) continue;
    const head = Buffer.alloc(4);
    const fd = fs.openSync(file, "r");
    fs.readSync(fd, head, 0, 4, 0);
    fs.closeSync(fd);
    if (!head.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))) continue;
    binaries.push(file);
    total += size;
  }
  return [...small.map((file) => ({ file, part: "small" as const })), ...binaries.map((file) => ({ file, part: "binary" as const }))];
}

const corpusId = (entries: CorpusEntry[]) => sha256(JSON.stringify(entries));

/**
 * Copies `files` (default: this machine's source, headers, docs, config and programs) into dir/files and writes
 * dir/manifest.json. Unreadable files are left out.
 */
export function freezeCorpus(dir: string, files: { file: string; part: CorpusEntry["part"] }[] = chooseFiles()): Corpus {
  const entries: CorpusEntry[] = [];
  fs.rmSync(dir, { recursive: true, force: true });
  for (const { file, part } of files) {
    const data = readable(file);
    if (!data) continue;
    const copy = path.join(dir, "files", file);
    fs.mkdirSync(path.dirname(copy), { recursive: true });
    fs.writeFileSync(copy, data);
    // setuid/setgid bits and odd permissions are not what the bench measures
    const mode = fs.statSync(file).mode & 0o111 ? 0o755 : 0o644;
    entries.push({ path: file, size: data.length, mode, sha256: sha256(data), part });
  }
  const corpus = {
    dir,
    id: corpusId(entries),
    frozenAt: new Date().toISOString(),
    frozenOn: fs.readFileSync("/etc/hostname", "utf8").trim(),
    entries,
  };
  const { dir: _dir, ...manifest } = corpus;
  fs.writeFileSync(path.join(dir, "manifest.json"), `${JSON.stringify(manifest)}\n`);
  return corpus;
}

/**
 * The corpus frozen in dir, every file checked against its manifest. Throws, naming the first difference,
 * when a file is missing or its bytes changed: a run on other bytes would not compare with earlier ones.
 */
export function loadCorpus(dir: string): Corpus {
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8")) as Omit<Corpus, "dir">;
  if (corpusId(manifest.entries) !== manifest.id) throw new Error(`${dir}/manifest.json was edited: its id does not match its entries`);
  for (const e of manifest.entries) {
    const data = readable(path.join(dir, "files", e.path));
    if (!data || data.length !== e.size || sha256(data) !== e.sha256)
      throw new Error(
        `the real-files corpus in ${dir} changed (${e.path} ${data ? "has other bytes" : "is missing"}): ` +
          "its figures would not compare with earlier runs. Delete the folder to freeze a new corpus from this machine.",
      );
  }
  return { dir, ...manifest };
}

/** The corpus in dir: loaded and checked if it exists, frozen from this machine first if it does not. */
export function openCorpus(dir: string, log: (line: string) => void = () => {}): Corpus {
  if (fs.existsSync(path.join(dir, "manifest.json"))) return loadCorpus(dir);
  log(`freezing the real-files corpus from this machine into ${dir}`);
  return freezeCorpus(dir);
}

/** The bytes of a corpus file, from the cache. */
export function corpusBytes(corpus: Corpus, entry: CorpusEntry): Buffer {
  return fs.readFileSync(path.join(corpus.dir, "files", entry.path));
}
