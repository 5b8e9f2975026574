// The section "Fan-in and floods (issue 17)" of RESULTS.md, from fan-in-N.json (fan-in.ts, one per scale) and floods.json (floods.ts).
import fs from "node:fs";
import path from "node:path";
import type { FloodResult } from "./floods.ts";
import type { MachineInfo } from "./machine.ts";
import { fmtBytes } from "./report.ts";
import { writeSection } from "./results-sections.ts";

export interface FanInResults {
  startedAt: string;
  options: { clients: number; real: number; sourceBytes: number; slots: number };
  machine: MachineInfo;
  commit: string;
  /** From the start signal until the last client was done. */
  wallMs: number;
  clients: { name: string; real: boolean; ok: boolean; ms: number; busy: number; late: number; error?: string }[];
  storedArchives: number;
  storedBytes: number;
  /** The server's peak resident set (VmHWM) and CPU time (user + system) over the run. */
  serverMaxRssKiB: number;
  serverCpuSeconds: number;
  /** Bun's version (the server binary embeds it). */
  bun?: string;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/** The fan-in table of the median run (by wall) and its notes; with several runs, a row gives each. */
function renderFanIn(runs: FanInResults[]): string {
  const byWall = [...runs].sort((a, b) => a.wallMs - b.wallMs);
  const r = byWall[Math.floor((byWall.length - 1) / 2)]!;
  const worstRssMiB = Math.max(...runs.map((x) => x.serverMaxRssKiB)) / 1024;
  const ok = r.clients.filter((c) => c.ok).length;
  const walls = r.clients.map((c) => c.ms).sort((a, b) => a - b);
  const waited = r.clients.filter((c) => c.busy > 0);
  const busyAnswers = r.clients.reduce((n, c) => n + c.busy, 0);
  const perWaiter = waited.map((c) => c.busy).sort((a, b) => a - b);
  const late = r.clients.filter((c) => c.late > 0);
  const rssMiB = r.serverMaxRssKiB / 1024;
  const o = r.options;
  const rows: [string, string][] = [
    [
      "clients",
      `${o.clients}: ${o.real} \`hashrelay client --once\` processes, ${o.clients - o.real} simulated by \`load-driver.ts\` (the real protocol, a socket and a listed key each)`,
    ],
    ["each source", `${fmtBytes(o.sourceBytes)} of incompressible bytes (one file; the driver's in 8 variants)`],
    ["server", `the real binary, \`server.limits.maxConnections: ${o.slots}\``],
    [
      "**backed up in that tick**",
      `**${ok} of ${o.clients}**${
        ok === o.clients
          ? ""
          : ` (failures: ${r.clients
              .filter((c) => !c.ok)
              .slice(0, 3)
              .map((c) => `${c.name}: ${c.error}`)
              .join("; ")})`
      }`,
    ],
    ["archives stored", `${r.storedArchives}, ${fmtBytes(r.storedBytes)}`],
    ["wall until the last client was done", seconds(r.wallMs)],
    [
      "client wall, start to exit (real) or bye (simulated)",
      `median ${seconds(percentile(walls, 50))}, p90 ${seconds(percentile(walls, 90))}, max ${seconds(walls.at(-1) ?? 0)}`,
    ],
    [
      "told BUSY and let in later",
      `${waited.length} of ${o.clients}; ${busyAnswers} BUSY answers in all (per waiting client: median ${percentile(perWaiter, 50)}, max ${perWaiter.at(-1) ?? 0})`,
    ],
    [
      "handshakes tried again after a timeout or a cut",
      `${late.length} clients, ${late.reduce((n, c) => n + c.late, 0)} tries (a client starved of CPU answers late; it tries twice more)`,
    ],
    [
      "**server max RSS**",
      `**${rssMiB.toFixed(0)} MiB**${runs.length > 1 ? `, the most of ${runs.length} runs ${worstRssMiB.toFixed(0)} MiB` : ""} (target ≤ 512 MiB: ${worstRssMiB <= 512 ? "met" : "**not met**"})`,
    ],
    ["server CPU time", seconds(r.serverCpuSeconds * 1000)],
  ];
  if (runs.length > 1)
    rows.unshift([
      "runs",
      `${runs.length}, this table shows the median by wall; each run (backed up, wall, server max RSS): ${runs
        .map((x) => `${x.clients.filter((c) => c.ok).length}, ${seconds(x.wallMs)}, ${(x.serverMaxRssKiB / 1024).toFixed(0)} MiB`)
        .join("; ")}`,
    ]);
  return [
    `### Fan-in: ${o.clients} clients started in the same second`,
    "",
    `Written by \`bun build/bench/fan-in.ts --clients ${o.clients} --real ${o.real} --source-mib ${o.sourceBytes / 2 ** 20} --slots ${o.slots}${runs.length > 1 ? ` --repeats ${runs.length}` : ""}\` on ${r.startedAt} (commit ${r.commit}). Raw figures: [fan-in-${o.clients}.json](fan-in-${o.clients}.json).`,
    "",
    "| | |",
    "|---|---|",
    ...rows.map(([k, v]) => `| ${k} | ${v} |`),
    "",
    `Machine: ${r.machine.cpu}, ${r.machine.cores} logical cores, ${r.machine.memory}, ${r.machine.distro}; ${r.machine.disk}; load ${r.machine.load}; Bun ${r.bun ?? "?"}. Clients, driver and server share the machine.`,
  ].join("\n");
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/** The floods' table and its notes. */
function renderFloods(f: FloodsFile): string {
  const rows = f.results.map((r) => {
    const t = r.tally;
    const rate = t.seconds ? `${Math.round((t.opened ?? 0) / t.seconds).toLocaleString("en")}/s` : "?";
    return `| ${r.what} | **${r.ticksOk} of ${r.ticks}** | ${seconds(median(r.tickMs))} (max ${seconds(Math.max(...r.tickMs))}) | ${(t.opened ?? 0).toLocaleString("en")} (${rate}); ${t.admitted ?? 0} got the server's HELLO | ${(r.serverMaxRssKiB / 1024).toFixed(0)} MiB, ${seconds(r.serverCpuSeconds * 1000)} | ${r.refusalLines} of ${r.logLines} |`;
  });
  return [
    "### Floods: a listed client's 10 ticks while strangers flood the port",
    "",
    `Written by \`bun build/bench/floods.ts\` on ${f.startedAt} (commit ${f.commit}), load ${f.load}. Raw figures: [floods.json](floods.json). One fresh server per flood (the real binary, 64 slots), the flood from its own process (\`src/testing/stranger-flood.ts\`), the listed client's \`client --once\` ticks one after the other, each after a change to its source, with \`busyWindow: 60s\`. The same floods run in CI (\`src/e2e/flood.test.ts\`), which asserts the 10 of 10 and no time.`,
    "",
    "| flood | ticks backed up | tick wall, median (max) | connections opened (rate); costly answers | server max RSS, CPU | server log: refusal lines of all |",
    "|---|---|---|---|---|---|",
    ...rows,
  ].join("\n");
}

/** What floods.ts writes to floods.json. */
export interface FloodsFile {
  startedAt: string;
  commit: string;
  load: string;
  results: FloodResult[];
}

function readJson<T>(file: string): T | null {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as T;
  } catch {
    return null;
  }
}

/** Writes the section into `dir`/RESULTS.md from the fan-in-N.json and floods.json beside it; returns the section. */
export function writeIssue17Section(dir: string): string {
  const fanIns = fs
    .readdirSync(dir)
    .filter((f) => /^fan-in-\d+\.json$/.test(f))
    .map((f) => readJson<FanInResults | FanInResults[]>(path.join(dir, f)))
    .flatMap((r) => (r === null ? [] : [Array.isArray(r) ? r : [r]]))
    .filter((runs) => runs.length > 0)
    .sort((a, b) => a[0]!.options.clients - b[0]!.options.clients);
  const floods = readJson<FloodsFile>(path.join(dir, "floods.json"));
  const parts = [
    "## Fan-in and floods (issue 17)",
    "No peer tool has a server that admits clients (rsync's daemon drops a connection past `max connections`; restic and tar have no server), so the reference is the issue's own measurement at 7275c01: **200 clients started at once, 64 backed up, 136 exited 3 \"server down: connection reset by peer\"**; an outsider's 2,000 silent connections a second, 70 slow ones, or 300 valid HELLOs left **0 of 3-4** listed ticks successful.",
  ];
  for (const r of fanIns) parts.push(renderFanIn(r));
  if (floods) parts.push(renderFloods(floods));
  const markdown = parts.join("\n\n");
  writeSection(path.join(dir, "RESULTS.md"), "fan-in", markdown);
  return markdown;
}
