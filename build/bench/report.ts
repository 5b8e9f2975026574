// Turns a bench run into results.json and RESULTS.md: per-scenario tables, floors, and the issue's targets met or not.
import type { DatasetSummary, MutationC, MutationD } from "./dataset.ts";
import type { MachineInfo } from "./machine.ts";
import type { CorpusSummary, DataSetName, MutationE } from "./scenarios.ts";
import type { RunMeasure } from "./tools/tool.ts";

export type ScenarioId = "A" | "B" | "C" | "D" | "E" | "R";

export interface ScenarioOutcome {
  id: ScenarioId;
  title: string;
  mutationC?: MutationC;
  mutationD?: MutationD;
  mutationE?: MutationE;
  /** Every repeat of every tool, in run order. */
  runs: Record<string, RunMeasure[]>;
  /** Tools that failed (or were skipped after an earlier failure) in this scenario, with the reason. */
  errors: Record<string, string>;
}

export interface BenchResults {
  startedAt: string;
  totalSeconds: number;
  options: {
    seed: number;
    scale: number;
    repeats: number;
    tools: string[];
    data?: DataSetName;
    files?: number;
    scenarios?: ScenarioId[];
    /** The file system of hashrelay's server storage, a loop file system the bench made (--server-fs). */
    serverFs?: string;
    /** "s3": hashrelay stored into a Ceph RGW bucket (issue 19). */
    storage?: string;
    wan?: boolean;
  };
  machine: MachineInfo;
  versions: Record<string, string>;
  dataset: DatasetSummary & { generateSeconds: number; corpus?: CorpusSummary };
  toolSetups: Record<string, string>;
  scenarios: ScenarioOutcome[];
  targets: TargetRow[];
}

export interface TargetRow {
  scenario: string;
  target: string;
  /** hashrelay's value (bytes or KiB of RSS), null when hashrelay did not run. */
  measured: number | null;
  /** The limit from the same run (bytes or KiB), null when the reference tool did not run. */
  limit: number | null;
  reference: string;
  unit: "bytes" | "KiB" | "ms";
  met: boolean | null;
}

export interface Summary {
  bytes: number;
  bytesMin: number;
  bytesMax: number;
  back: number | null;
  wallMedian: number;
  wallMin: number;
  wallMax: number;
  clientRss: number | null;
  serverRss: number | null;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function maxOrNull(values: (number | null)[]): number | null {
  const known = values.filter((v): v is number => v !== null);
  return known.length ? Math.max(...known) : null;
}

/** Median bytes and wall time, their range, and the largest RSS over the repeats; null if the tool has no run. */
export function summarize(runs: RunMeasure[] | undefined): Summary | null {
  if (!runs || runs.length === 0) return null;
  const bytes = runs.map((r) => r.bytesClientToServer);
  const walls = runs.map((r) => r.wallMs);
  const back = runs.map((r) => r.bytesServerToClient).filter((v): v is number => v !== null);
  return {
    bytes: median(bytes),
    bytesMin: Math.min(...bytes),
    bytesMax: Math.max(...bytes),
    back: back.length ? median(back) : null,
    wallMedian: median(walls),
    wallMin: Math.min(...walls),
    wallMax: Math.max(...walls),
    clientRss: maxOrNull(runs.map((r) => r.clientRssKiB)),
    serverRss: maxOrNull(runs.map((r) => r.serverRssKiB)),
  };
}

/** The issues' targets, each against the reference measured in the same run (`data`: the data set run). */
export function evaluateTargets(scenarios: ScenarioOutcome[], data: DataSetName = "standard", wan = false): TargetRow[] {
  const get = (id: ScenarioId, tool: string) => summarize(scenarios.find((s) => s.id === id)?.runs[tool]);
  const rows: TargetRow[] = [];
  const row = (
    scenario: string,
    target: string,
    measured: number | null | undefined,
    limit: number | null | undefined,
    reference: string,
    unit: "bytes" | "KiB" | "ms" = "bytes",
  ) => {
    const m = measured ?? null;
    const l = limit ?? null;
    rows.push({ scenario, target, measured: m, limit: l, reference, unit, met: m === null || l === null ? null : m <= l });
  };
  const hrA = scenarios.find((s) => s.id === "A")?.runs["hashrelay"];
  const archiveA = hrA && hrA.length ? median(hrA.map((r) => Number(r.notes["archiveBytes"]))) : null;
  const tarA = get("A", "tar");
  row(
    "A",
    "archive ≤ 1.05 × `tar czf` (gzip -6) of the tree",
    archiveA,
    tarA ? 1.05 * tarA.bytes : null,
    tarA ? `1.05 × tar czf ${fmtBytes(tarA.bytes)}` : "tar not run",
  );
  row("A", "bytes ≤ restic", get("A", "hashrelay")?.bytes, get("A", "restic")?.bytes, "restic");
  row("B", "bytes ≤ 2 KiB, handshake included", get("B", "hashrelay")?.bytes, 2048, "2 KiB");
  row("B", "bytes ≤ rsync -z", get("B", "hashrelay")?.bytes, get("B", "rsync")?.bytes, "rsync -z");
  const rsyncC = get("C", "rsync");
  row(
    "C",
    "bytes ≤ 0.8 × rsync -z",
    get("C", "hashrelay")?.bytes,
    rsyncC ? 0.8 * rsyncC.bytes : null,
    rsyncC ? `0.8 × rsync -z ${fmtBytes(rsyncC.bytes)}` : "rsync not run",
  );
  row("C", "bytes ≤ restic", get("C", "hashrelay")?.bytes, get("C", "restic")?.bytes, "restic");
  const rsyncD = get("D", "rsync");
  row(
    "D",
    "bytes ≤ 0.5 × rsync -z",
    get("D", "hashrelay")?.bytes,
    rsyncD ? 0.5 * rsyncD.bytes : null,
    rsyncD ? `0.5 × rsync -z ${fmtBytes(rsyncD.bytes)}` : "rsync not run",
  );
  row("D", "bytes ≤ restic", get("D", "hashrelay")?.bytes, get("D", "restic")?.bytes, "restic");
  // Issue 18: near the floor, gzip -6 of the new bytes.
  const floorC = scenarios.find((s) => s.id === "C")?.mutationC?.changedGzip;
  row(
    "C",
    "bytes ≤ 2 × floor (issue 18)",
    get("C", "hashrelay")?.bytes,
    floorC && 2 * floorC,
    `2 × gzip -6 floor ${fmtBytes(floorC ?? null)}`,
  );
  const floorD = scenarios.find((s) => s.id === "D")?.mutationD?.changedGzip;
  row(
    "D",
    "bytes ≤ 1.2 × floor (issue 18)",
    get("D", "hashrelay")?.bytes,
    floorD && 1.2 * floorD,
    `1.2 × gzip -6 floor ${fmtBytes(floorD ?? null)}`,
  );
  // Wall time, median of the repeats: A, C, D against restic, B against rsync (the issue's targets).
  for (const [id, peer] of [
    ["A", "restic"],
    ["B", "rsync"],
    ["C", "restic"],
    ["D", "restic"],
  ] as const) {
    row(
      id,
      `wall ≤ ${peer === "rsync" ? "rsync -z" : "restic"}`,
      get(id, "hashrelay")?.wallMedian,
      get(id, peer)?.wallMedian,
      `${peer} median`,
      "ms",
    );
  }
  for (const id of ["A", "B", "C", "D"] as const) {
    row(id, "client max RSS ≤ restic's", get(id, "hashrelay")?.clientRss, get(id, "restic")?.clientRss, "restic client", "KiB");
  }
  // Issue 16: the cost of a one-line change, and of an unchanged source, stay those of the change.
  row("E", "wall ≤ restic (issue 16)", get("E", "hashrelay")?.wallMedian, get("E", "restic")?.wallMedian, "restic median", "ms");
  row("E", "client max RSS ≤ restic's (issue 16)", get("E", "hashrelay")?.clientRss, get("E", "restic")?.clientRss, "restic client", "KiB");
  const resticB = get("B", "restic");
  row(
    "B",
    "wall ≤ 0.5 × restic (issue 16)",
    get("B", "hashrelay")?.wallMedian,
    resticB ? 0.5 * resticB.wallMedian : null,
    resticB ? `0.5 × restic median ${fmtS(resticB.wallMedian)}` : "restic not run",
    "ms",
  );
  // Issue 18: a restore as fast as restic's, near plain `tar -xzf` (taken as within 1.25 x of it).
  row(
    "R",
    "restore wall ≤ restic restore (issue 18)",
    get("R", "hashrelay")?.wallMedian,
    get("R", "restic")?.wallMedian,
    "restic median",
    "ms",
  );
  const tarR = get("R", "tar");
  row(
    "R",
    "restore wall ≤ 1.25 × `tar -xzf` (issue 18)",
    get("R", "hashrelay")?.wallMedian,
    tarR ? 1.25 * tarR.wallMedian : null,
    tarR ? `1.25 × tar -xzf median ${fmtS(tarR.wallMedian)}` : "tar not run",
    "ms",
  );
  if (wan)
    for (const id of ["A", "B", "C", "D"] as const)
      row(
        id,
        "wall at 50 ms RTT, 20 Mbit/s ≤ rsync -z (issue 18)",
        get(id, "hashrelay")?.wallMedian,
        get(id, "rsync")?.wallMedian,
        "rsync -z median",
        "ms",
      );
  if (data === "many-files")
    row("B", "client max RSS ≤ 300 MiB (issue 16)", get("B", "hashrelay")?.clientRss, 300 * 1024, "300 MiB", "KiB");
  // Issue 16 with the server's storage on a loop file system: the NAS writes and keeps only what changed.
  const storageE = storageCost(scenarios.find((s) => s.id === "E")?.runs["hashrelay"]);
  if (storageE) {
    const limit = 0.01 * storageE.archive + 1024 * 1024;
    const reference = `1% of the ${fmtBytes(storageE.archive)} archive + 1 MiB`;
    row("E", `server bytes written ≤ 1% of the archive + 1 MiB (issue 16, ${storageE.fs})`, storageE.written, limit, reference);
    row("E", `storage growth, trash included ≤ 1% of the archive + 1 MiB (issue 16, ${storageE.fs})`, storageE.growth, limit, reference);
  }
  return rows.filter((r) => scenarios.some((s) => s.id === r.scenario));
}

/** The medians over the repeats of what the runs cost the server's storage, and the archive's size; null without --server-fs. */
export function storageCost(
  runs: RunMeasure[] | undefined,
): { fs: string; written: number; read: number; growth: number; archive: number } | null {
  const measured = runs?.filter((r) => r.storage);
  if (!measured?.length) return null;
  const of = (pick: (r: RunMeasure) => number) => median(measured.map(pick));
  return {
    fs: measured[0]!.storage!.fs,
    written: of((r) => r.storage!.written),
    read: of((r) => r.storage!.read),
    growth: of((r) => r.storage!.growth),
    archive: of((r) => Number(r.notes["archiveBytes"])),
  };
}

export function fmtBytes(n: number | null): string {
  if (n === null) return "—";
  if (Math.abs(n) < 1024) return `${Math.round(n)} B`;
  if (Math.abs(n) < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (Math.abs(n) < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

const fmtKiB = (k: number | null) => (k === null ? "—" : fmtBytes(k * 1024));
const fmtS = (ms: number) => (ms < 10_000 ? `${(ms / 1000).toFixed(2)} s` : `${(ms / 1000).toFixed(1)} s`);
const fmtInt = (n: number) => n.toLocaleString("en");

function toolNotes(tool: string, runs: RunMeasure[]): string {
  const n = runs[0]!.notes;
  const bytes = runs.map((r) => r.bytesClientToServer);
  const spread =
    Math.min(...bytes) !== Math.max(...bytes)
      ? `bytes vary between repeats: ${fmtInt(Math.min(...bytes))}–${fmtInt(Math.max(...bytes))} B; `
      : "";
  const connections = (c: unknown) => `${c} connection${c === 1 ? "" : "s"}`;
  if (n["restore"] !== undefined) return String(n["restore"]);
  if (tool === "hashrelay") {
    const payload = Number(n["own report bytesSent"]);
    const cost = storageCost(runs);
    const storage = cost
      ? `; server storage on ${cost.fs}: wrote ${fmtBytes(cost.written)}, read ${fmtBytes(cost.read)}, grew ${fmtBytes(cost.growth)} (medians)`
      : "";
    return (
      `${spread}${n["status"]}, chunks sent ${n["chunks"]}, ${n["turns"]} turns, archive on server ${fmtBytes(Number(n["archiveBytes"]))}; ` +
      `client's own report: ${fmtInt(payload)} B of chunk payload, so ${fmtBytes(runs[0]!.bytesClientToServer - payload)} went to handshake, manifest and framing; ${connections(n["connections"])}${storage}` +
      (n["frames"] ? `; client→server by frame type: ${n["frames"]}` : "")
    );
  }
  if (tool === "restic") return `${spread}repository growth (no network); repository now ${fmtBytes(Number(n["repositoryBytes"]))}`;
  if (tool === "tar") return `${spread}archive ${fmtBytes(Number(n["archiveBytes"]))}`;
  if (tool === "rsync") return `${spread}compression negotiated: ${n["compress"]}, ${connections(n["connections"])}, ${n["turns"]} turns`;
  return spread;
}

function scenarioSection(s: ScenarioOutcome, tools: string[]): string[] {
  const lines = [`## ${s.id}: ${s.title}`, ""];
  if (s.mutationC) {
    const m = s.mutationC;
    lines.push(
      `Mutation: ${m.edited.length} files edited (2-4 lines each), ${m.added.length} added, ${m.deleted.length} deleted.`,
      `Floor: **${fmtBytes(m.changedGzip)}** = the changed bytes gzip'd (${fmtBytes(m.changedBytes)} raw: the new lines and the added files); ` +
        `**${fmtBytes(m.wholeFilesGzip)}** if whole changed files travel (${fmtBytes(m.wholeFilesBytes)} raw).`,
      "",
    );
  }
  if (s.mutationE) {
    const m = s.mutationE;
    lines.push(`Mutation: one line (${fmtBytes(m.lineBytes)}, gzip'd ${fmtBytes(m.lineGzip)}) appended to \`${m.file}\`.`, "");
  }
  if (s.mutationD) {
    const m = s.mutationD;
    lines.push(
      `Mutation: ${m.blocks.length} random 4 KiB-aligned blocks of the image overwritten with random bytes.`,
      `Floor: **${fmtBytes(m.changedBytes)}** (random bytes do not compress: gzip'd ${fmtBytes(m.changedGzip)}).`,
      "",
    );
  }
  if (s.id === "R")
    lines.push(
      "Each tool restores its newest backup into an empty folder (its files' bytes checked against the tree's after each run); rsync has no restore here. " +
        "hashrelay's client reaches its server on 127.0.0.1 without the proxy (server→client: the archive's size, not counted); restic reads its local repository; `tar -xzf` extracts hashrelay's stored archive from the disk.",
      "",
    );
  lines.push(
    "| tool | client→server | server→client | wall median (min–max) | client max RSS | server max RSS | notes |",
    "|---|--:|--:|---|--:|--:|---|",
  );
  for (const tool of tools) {
    const runs = s.runs[tool];
    const sum = summarize(runs);
    if (!sum || !runs) {
      lines.push(`| ${tool} | — | — | — | — | — | ${s.errors[tool] ? `FAILED: ${s.errors[tool]!.split("\n")[0]}` : "not run"} |`);
      continue;
    }
    lines.push(
      `| ${tool} | ${fmtBytes(sum.bytes)} | ${fmtBytes(sum.back)} | ${fmtS(sum.wallMedian)} (${fmtS(sum.wallMin)}–${fmtS(sum.wallMax)}) | ${fmtKiB(sum.clientRss)} | ${fmtKiB(sum.serverRss)} | ${toolNotes(tool, runs)}${s.errors[tool] ? `; FAILED after ${runs.length} run(s)` : ""} |`,
    );
  }
  lines.push("");
  return lines;
}

/** RESULTS.md for one run. */
export function renderMarkdown(r: BenchResults): string {
  const d = r.dataset;
  const tools = r.options.tools;
  const many = r.options.data === "many-files";
  const real = r.options.data === "real";
  const banner = many
    ? `> Many small files: ${fmtInt(d.files)} text files (issue 16 measures 1,000,000).`
    : real
      ? `> **Real files at scale ${r.options.scale}**: a ${fmtBytes(d.bytes)} tree copied from the frozen corpus \`${d.corpus?.id.slice(0, 16)}\`.`
      : r.options.scale === 1
        ? "> Full run at scale 1 (the issue's ~411 MiB tree)."
        : r.options.scale > 1
          ? `> **Large run at scale ${r.options.scale}** (a ${fmtBytes(d.bytes)} tree): issue 16's scale.`
          : `> **Smoke run at scale ${r.options.scale}** (a ${fmtBytes(d.bytes)} tree instead of the issue's 411 MiB): the figures show the bench works, they are not the issue's comparison.`;
  const command =
    (many ? `--data many-files --files ${r.options.files}` : `${real ? "--data real " : ""}--scale ${r.options.scale}`) +
    (r.options.scenarios ? ` --scenarios ${r.options.scenarios.join(",")}` : "") +
    (r.options.serverFs ? ` --server-fs ${r.options.serverFs}` : "") +
    (r.options.wan ? " --wan" : "");
  const wan = r.options.wan
    ? "\n> **WAN**: the proxy delays each direction by 25 ms (50 ms round trip) and paces it at 20 Mbit/s (`--wan`); restic, with a local repository, is left out."
    : "";
  const out: string[] = [
    "# HashRelay benchmark results",
    "",
    banner + wan,
    "",
    `Written by \`npm run bench -- --seed ${r.options.seed} ${command} --repeats ${r.options.repeats}\` on ${r.startedAt}; the whole run took ${Math.floor(r.totalSeconds / 60)} min ${Math.round(r.totalSeconds % 60)} s. ` +
      "Do not edit by hand: run the bench again. Raw figures: [results.json](results.json).",
    "",
    "## Targets (issues 3 and 16)",
    "",
    "| scenario | target | hashrelay | limit from this run | met |",
    "|---|---|--:|---|---|",
    ...r.targets.map((t) => {
      const fmt = t.unit === "KiB" ? fmtKiB : t.unit === "ms" ? (v: number | null) => (v === null ? "—" : fmtS(v)) : fmtBytes;
      const limit = t.limit === null ? `— (${t.reference})` : `${fmt(t.limit)} (${t.reference})`;
      return `| ${t.scenario} | ${t.target} | ${fmt(t.measured)} | ${limit} | ${t.met === null ? "n/a" : t.met ? "met" : "**not met**"} |`;
    }),
    "",
    "## Machine",
    "",
    "| | |",
    "|---|---|",
    `| CPU | ${r.machine.cpu}, ${r.machine.cores} logical cores |`,
    `| memory | ${r.machine.memory} |`,
    `| OS | ${r.machine.distro}, ${r.machine.kernel} |`,
    `| work folder | ${r.machine.disk} |`,
    `| load | ${r.machine.load} |`,
    "",
    "## Versions",
    "",
    "| tool | version |",
    "|---|---|",
    ...Object.entries(r.versions).map(([k, v]) => `| ${k} | ${v} |`),
    "",
    "## Data set",
    "",
    many
      ? `Seed ${r.options.seed}, ${fmtInt(d.files)} files, generated in ${r.dataset.generateSeconds.toFixed(1)} s by \`build/bench/many-files.ts\`.`
      : real && d.corpus
        ? `Seed ${r.options.seed}, scale ${r.options.scale}, copied in ${r.dataset.generateSeconds.toFixed(1)} s by \`build/bench/real-data.ts\` from the corpus \`${d.corpus.id}\` ` +
          `(${fmtInt(d.corpus.files)} files, ${fmtBytes(d.corpus.bytes)}, frozen on ${d.corpus.frozenOn} at ${d.corpus.frozenAt} from /usr/include, the Python library, /usr/share/doc, /etc and ELF programs of /usr/bin); the image is generated.`
        : `Seed ${r.options.seed}, scale ${r.options.scale}, generated in ${r.dataset.generateSeconds.toFixed(1)} s by \`build/bench/dataset.ts\`.`,
    "",
    "| part | files | bytes |",
    "|---|--:|--:|",
    `| small ${real ? "files (headers, Python, docs, config: 100 B to 256 KiB)" : `text files (${many ? "logs, config, text, markdown, JSON, Python; 1,000 a folder" : "config, logs, source, markdown, CSV, HTML"})`} | ${fmtInt(d.smallFiles)} | ${fmtBytes(d.smallBytes)} |`,
    ...(many
      ? []
      : [
          `| binaries (${real ? "ELF programs from /usr/bin" : "random, executable-like, database-like, firmware-like"}) | ${fmtInt(d.files - d.smallFiles - 1)} | ${fmtBytes(d.binaryBytes)} |`,
          `| disk image: ${Object.entries(d.imageMix)
            .map(([k, v]) => `${k} ${Math.round((100 * v) / d.imageBytes)}%`)
            .join(", ")} | 1 | ${fmtBytes(d.imageBytes)} |`,
        ]),
    `| **tree** (${fmtInt(d.dirs)} folders) | **${fmtInt(d.files)}** | **${fmtBytes(d.bytes)}** (${fmtInt(d.bytes)} B) |`,
    "",
    "## How it was measured",
    "",
    `- Scenarios run in order ${r.scenarios.map((x) => x.id).join(", ")} on one evolving tree; every tool has its own destination. Each scenario runs ` +
      `${r.options.repeats} times per tool; before repeats 2 and later the tool's destination (and client state or cache) is restored to what it was before the scenario, so every repeat does the same work.`,
    "- **Bytes client→server** are counted by a TCP proxy on 127.0.0.1 between client and server (TCP payload, all connections of the run, handshakes included), never taken from a tool's own report. " +
      '**restic** has no network path here ("restic (local repo)" in the issue): its bytes are the growth of the repository on disk. **tar** streams `tar czf -` through the proxy into a sink, so its bytes are the archive\'s size.',
    "- **Wall time**: the client command from start to exit (for tar, until the sink has the whole archive); median of the repeats, min–max in brackets. Servers are started before the clock starts.",
    "- **Max RSS**: GNU time `%M` around the client and around the server: the largest resident set of the process or of any child it waited for (the largest single process, not a sum). restic and tar have no server process.",
    "",
    "| tool | how it ran |",
    "|---|---|",
    ...tools.map((t) => `| ${t} | ${r.toolSetups[t] ?? "not run"} |`),
    "",
    ...r.scenarios.flatMap((s) => scenarioSection(s, tools)),
  ];
  return out.join("\n");
}
