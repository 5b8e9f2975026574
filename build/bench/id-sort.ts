// Measures the new source index's ids sort: finish time and peak RSS of a SourceIndexWriter over N random chunk ids.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const USAGE = `usage: bun build/bench/id-sort.ts [--writer MODULE] CHUNKS

Adds CHUNKS chunks with random ids (one block each) to a SourceIndexWriter in a temporary folder,
then finishes it, and prints one JSON line: seconds adding, seconds in finish, the process's
resident size before finish and its peak (VmHWM) after. MODULE (default: this tree's
src/client/source-index/index-writer.ts) lets the same script time another tree's writer, e.g.
a worktree of the commit before. Run one size per process: the peak is the process's.`;

/** Resident kilobytes of this process from /proc: now (VmRSS) and peak (VmHWM). */
function resident(): { rssMiB: number; peakMiB: number } {
  const status = fs.readFileSync("/proc/self/status", "utf8");
  const kib = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
  return { rssMiB: kib("VmRSS") / 1024, peakMiB: kib("VmHWM") / 1024 };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const at = args.indexOf("--writer");
  const module =
    at >= 0 ? path.resolve(args.splice(at, 2)[1]!) : path.join(import.meta.dir, "../../src/client/source-index/index-writer.ts");
  const chunks = Number(args[0]);
  if (!Number.isInteger(chunks) || chunks < 1) throw new Error(USAGE);
  const { SourceIndexWriter } = await import(module);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "hr-id-sort-bench-"));
  try {
    const writer = new SourceIndexWriter(path.join(root, "new.index"), null);
    const chunk = { id: new Uint8Array(32), rawLength: 65_536, lengths: new Uint16Array([65_535]), keys: new Float64Array([1]) };
    const batch = new Uint8Array(32 * 2048);
    const started = performance.now();
    for (let c = 0; c < chunks; c++) {
      if (c % 2048 === 0) crypto.getRandomValues(batch);
      chunk.id = batch.subarray(32 * (c % 2048), 32 * (c % 2048) + 32);
      writer.addChunk(chunk);
    }
    const added = performance.now();
    const before = resident();
    await writer.finish("00".repeat(32));
    const finished = performance.now();
    const after = resident();
    const round = (x: number) => Math.round(x * 10) / 10;
    console.log(
      JSON.stringify({
        chunks,
        writer: path.relative(process.cwd(), module),
        addSeconds: round((added - started) / 1000),
        finishSeconds: round((finished - added) / 1000),
        rssBeforeFinishMiB: round(before.rssMiB),
        peakMiB: round(after.peakMiB),
        load: os.loadavg()[0]!.toFixed(1),
      }),
    );
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

await main();
