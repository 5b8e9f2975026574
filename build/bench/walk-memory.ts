// Measures what the client's walk keeps resident per file: the live heap across a TreeWalk of a tree, sampled after full collections.
import { heapStats } from "bun:jsc";
import { TreeWalk } from "../../src/client/tree-walk.ts";

const USAGE = `usage: bun build/bench/walk-memory.ts DIR [DIR...]

Walks each DIR with the client's TreeWalk (no excludes), collecting fully every SAMPLE_EVERY entries,
and prints the entries walked, the live heap at the start and its peak, and the peak RSS. Run it on a
small and a large tree of the same shape (e.g. one group of the many-files tree, then the whole tree):
the walk's resident cost per file is (peak_large - peak_small) / (entries_large - entries_small).`;

/** Entries between samples: each sample is a full collection (~10-50 ms). */
const SAMPLE_EVERY = 20_000;

interface WalkMemory {
  dir: string;
  entries: number;
  liveStartBytes: number;
  livePeakBytes: number;
  rssPeakBytes: number;
  seconds: number;
}

/** The live heap (bytes) after a full collection. */
function liveHeap(): number {
  Bun.gc(true);
  return heapStats().heapSize;
}

/** Walks `dir` once, sampling the live heap after full collections; holds nothing per entry itself. */
async function measureWalk(dir: string): Promise<WalkMemory> {
  const started = performance.now();
  const liveStartBytes = liveHeap();
  let livePeakBytes = liveStartBytes;
  let rssPeakBytes = process.memoryUsage().rss;
  const walk = await TreeWalk.open(dir, []);
  while (await walk.next()) {
    if (walk.count % SAMPLE_EVERY !== 0) continue;
    livePeakBytes = Math.max(livePeakBytes, liveHeap());
    rssPeakBytes = Math.max(rssPeakBytes, process.memoryUsage().rss);
  }
  livePeakBytes = Math.max(livePeakBytes, liveHeap());
  rssPeakBytes = Math.max(rssPeakBytes, process.memoryUsage().rss);
  return { dir, entries: walk.count, liveStartBytes, livePeakBytes, rssPeakBytes, seconds: (performance.now() - started) / 1000 };
}

const dirs = process.argv.slice(2);
if (dirs.length === 0 || dirs.includes("-h") || dirs.includes("--help")) {
  console.log(USAGE);
  process.exit(dirs.length === 0 ? 2 : 0);
}
const mib = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;
const results: WalkMemory[] = [];
for (const dir of dirs) {
  const r = await measureWalk(dir);
  results.push(r);
  console.log(
    `${r.dir}: ${r.entries.toLocaleString("en")} entries in ${r.seconds.toFixed(1)} s; live heap ${mib(r.liveStartBytes)} at start, ` +
      `${mib(r.livePeakBytes)} at peak; RSS peak ${mib(r.rssPeakBytes)}`,
  );
}
if (results.length >= 2) {
  const [small, large] = [results[0]!, results.at(-1)!];
  const perFile = (large.livePeakBytes - small.livePeakBytes) / (large.entries - small.entries);
  console.log(
    `resident per entry (live heap peak, ${small.entries.toLocaleString("en")} -> ${large.entries.toLocaleString("en")} entries): ${perFile.toFixed(2)} bytes`,
  );
}
