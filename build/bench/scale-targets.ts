// Issue 16's targets that span runs: client memory at scale 8 against scale 1, and the many-files run, from their results.json.
import fs from "node:fs";
import path from "node:path";
import { fmtBytes, summarize, type BenchResults, type ScenarioId } from "./report.ts";

const USAGE = `usage: bun build/bench/scale-targets.ts --small DIR --large DIR [--many DIR] [--out FILE]

  --small DIR   results of the standard data set at scale 1 (DIR/results.json)
  --large DIR   results of the standard data set at a larger scale (issue 16: 8)
  --many DIR    results of the many-files data set (optional)
  --out FILE    where the table goes (default: printed)`;

interface Row {
  target: string;
  measured: string;
  limit: string;
  met: boolean | null;
}

function load(dir: string): BenchResults {
  return JSON.parse(fs.readFileSync(path.join(dir, "results.json"), "utf8")) as BenchResults;
}

/** Client max RSS (KiB) and median wall (ms) of `tool` in scenario `id`, or nulls. */
function measure(r: BenchResults, id: ScenarioId, tool: string) {
  const s = summarize(r.scenarios.find((x) => x.id === id)?.runs[tool]);
  return { rss: s?.clientRss ?? null, wall: s?.wallMedian ?? null };
}

const kib = (k: number | null) => (k === null ? "—" : fmtBytes(k * 1024));
const secs = (ms: number | null) => (ms === null ? "—" : `${(ms / 1000).toFixed(2)} s`);

/** The rows: each target with its value, its limit (from the same runs) and whether it is met. */
export function scaleTargets(small: BenchResults, large: BenchResults, many: BenchResults | null): Row[] {
  const rows: Row[] = [];
  const row = (target: string, measured: number | null, limit: number | null, fmt: (v: number | null) => string, reference: string) =>
    rows.push({
      target,
      measured: fmt(measured),
      limit: `${fmt(limit)} (${reference})`,
      met: measured === null || limit === null ? null : measured <= limit,
    });
  const scale = large.options.scale;
  const e1 = measure(small, "E", "hashrelay");
  const e8 = measure(large, "E", "hashrelay");
  row(`E one-line edit, client max RSS, scale ${scale} ≤ 1.2 × scale 1`, e8.rss, e1.rss && 1.2 * e1.rss, kib, `1.2 × ${kib(e1.rss)}`);
  row(`E one-line edit, client max RSS, scale ${scale} ≤ restic's`, e8.rss, measure(large, "E", "restic").rss, kib, "restic, same run");
  const a1 = measure(small, "A", "hashrelay");
  row(
    `A client max RSS, scale ${scale} ≤ 1.3 × scale 1`,
    measure(large, "A", "hashrelay").rss,
    a1.rss && 1.3 * a1.rss,
    kib,
    `1.3 × ${kib(a1.rss)}`,
  );
  row(`E wall, scale ${scale} ≤ restic's`, e8.wall, measure(large, "E", "restic").wall, secs, "restic, same run");
  const resticB = measure(large, "B", "restic").wall;
  row(
    `B wall, scale ${scale} ≤ 0.5 × restic's`,
    measure(large, "B", "hashrelay").wall,
    resticB && 0.5 * resticB,
    secs,
    "0.5 × restic, same run",
  );
  if (many) {
    const files = many.dataset.files.toLocaleString("en");
    row(
      `${files} small files, A client max RSS ≤ restic's`,
      measure(many, "A", "hashrelay").rss,
      measure(many, "A", "restic").rss,
      kib,
      "restic, same run",
    );
    row(`${files} small files, B client max RSS ≤ 300 MiB`, measure(many, "B", "hashrelay").rss, 300 * 1024, kib, "300 MiB");
    row(
      `${files} small files, B wall ≤ restic's`,
      measure(many, "B", "hashrelay").wall,
      measure(many, "B", "restic").wall,
      secs,
      "restic, same run",
    );
  }
  return rows;
}

function main(argv: string[]): number {
  const arg = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const [small, large] = [arg("--small"), arg("--large")];
  if (!small || !large) {
    console.error(USAGE);
    return 2;
  }
  const many = arg("--many");
  const rows = scaleTargets(load(small), load(large), many ? load(many) : null);
  const text = [
    "| target (issue 16) | hashrelay | limit | met |",
    "|---|--:|---|---|",
    ...rows.map((r) => `| ${r.target} | ${r.measured} | ${r.limit} | ${r.met === null ? "n/a" : r.met ? "met" : "**not met**"} |`),
    "",
  ].join("\n");
  const out = arg("--out");
  if (out) fs.writeFileSync(out, text);
  else console.log(text);
  return 0;
}

if (import.meta.main) process.exit(main(process.argv.slice(2)));
