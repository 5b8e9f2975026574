// `bun build/bench/server-writes.ts RUN.json...`: RESULTS.md's "Big sources: server writes (issue 16)" section, from bench runs made with --server-fs.
//
// Each argument is the results.json of one `npm run bench -- --server-fs xfs|ext4 ...` run. The
// section gets one row per run and scenario: the server's write_bytes and read_bytes over the
// backup (/proc/PID/io), the storage file system's growth (the trashed predecessor included),
// the archive, hashrelay's wall and client RSS beside restic's from the same run. Written into
// build/bench/RESULTS.md between the section's markers (run.ts keeps it when it rewrites the file).
import fs from "node:fs";
import path from "node:path";
import { versionLine } from "./processes.ts";
import { fmtBytes, storageCost, summarize, type BenchResults } from "./report.ts";
import { writeSection } from "./results-sections.ts";

const HERE = import.meta.dir;
export const SECTION = "server-writes";

const fmtS = (ms: number | undefined) => (ms === undefined ? "—" : `${(ms / 1000).toFixed(1)} s`);
const fmtKiB = (k: number | null | undefined) => (k === null || k === undefined ? "—" : fmtBytes(k * 1024));

/** The table rows of one run: every scenario hashrelay ran with its storage measured. */
function rows(run: BenchResults, file: string): string[] {
  const out: string[] = [];
  for (const s of run.scenarios) {
    const cost = storageCost(s.runs["hashrelay"]);
    const hr = summarize(s.runs["hashrelay"]);
    if (!cost || !hr) continue;
    const restic = summarize(s.runs["restic"]);
    const limit = 0.01 * cost.archive + 1024 * 1024;
    const versus = (v: number) => (s.id === "E" ? ` (${v <= limit ? "met" : "**not met**"})` : "");
    out.push(
      `| ${run.options.scale} | ${s.id} | ${cost.fs} | ${fmtBytes(cost.archive)} | ${fmtBytes(cost.written)}${versus(cost.written)} | ` +
        `${fmtBytes(cost.growth)}${versus(cost.growth)} | ${s.id === "E" ? fmtBytes(limit) : "—"} | ${fmtBytes(cost.read)} | ` +
        `${fmtS(hr.wallMedian)} / ${fmtS(restic?.wallMedian)} | ${fmtKiB(hr.clientRss)} / ${fmtKiB(restic?.clientRss)} | ${file} |`,
    );
  }
  return out;
}

/** How each run was made and on what machine, one line each. */
function runLine(run: BenchResults, file: string): string {
  const o = run.options;
  const command = `npm run bench -- --scale ${o.scale} --repeats ${o.repeats} --tools ${o.tools.join(",")}${o.scenarios ? ` --scenarios ${o.scenarios.join(",")}` : ""} --server-fs ${o.serverFs}`;
  return `- \`${file}\`: \`${command}\`, ${run.startedAt}, ${run.machine.cores} cores, load ${run.machine.load}; ${run.versions["hashrelay"]}, ${run.versions["restic"]}.`;
}

/** The machine of the runs (one machine: the first run's), with the loop file systems' tools. */
function machineLine(run: BenchResults): string {
  const m = run.machine;
  const tools = ["mkfs.xfs -V", "mkfs.ext4 -V"].map((c) => versionLine(c.split(" ")[0]!, [c.split(" ")[1]!])).join("; ");
  return `Machine: ${m.cpu}, ${m.cores} logical cores, ${m.memory}, ${m.distro}, ${m.kernel}; ${tools}. Each run:`;
}

/** The section's body: the table of every run, then how each was made. */
export function renderSection(runs: { file: string; run: BenchResults }[], notes: string): string {
  return [
    "## Big sources: server writes (issue 16)",
    "",
    "The server's storage on a loop file system the bench made for the run (`--server-fs`: XFS with reflink=1, or ext4,",
    "which cannot clone: the fallback). *Written*: the server process's `write_bytes` over the backup (`/proc/PID/io`:",
    "bytes it sent to the storage layer; a cloned range counts none); *growth*: the file system's used bytes after the backup",
    "minus before (after `sync`), everything kept included: the new archive, its index and the predecessor in the trash.",
    "Target for E (one line appended to one file): both ≤ 1% of the archive + 1 MiB. *Read*: the server's `read_bytes`",
    "(from the disk, not the page cache). Wall and client max RSS: hashrelay / restic of the same run (medians).",
    "",
    "| scale | scenario | storage | archive | written | growth | target | read | wall hr / restic | client RSS hr / restic | run |",
    "|--:|---|---|--:|--:|--:|--:|--:|---|---|---|",
    ...runs.flatMap(({ file, run }) => rows(run, file)),
    "",
    machineLine(runs[0]!.run),
    ...runs.map(({ file, run }) => runLine(run, file)),
    "",
    notes.trim(),
  ].join("\n");
}

function main(): void {
  const args = process.argv.slice(2);
  const notesAt = args.indexOf("--notes");
  const notes = notesAt >= 0 ? fs.readFileSync(args.splice(notesAt, 2)[1]!, "utf8") : "";
  if (args.length === 0) {
    console.error("usage: bun build/bench/server-writes.ts [--notes NOTES.md] RUN/results.json...");
    process.exit(2);
  }
  const runs = args.map((file) => ({
    file: path.relative(HERE, path.resolve(file)),
    run: JSON.parse(fs.readFileSync(file, "utf8")) as BenchResults,
  }));
  const resultsMd = path.join(HERE, "RESULTS.md");
  writeSection(resultsMd, SECTION, renderSection(runs, notes));
  console.log(`wrote the ${SECTION} section of ${resultsMd} from ${runs.length} run(s)`);
}

if (import.meta.main) main();
