// `bun build/bench/fan-in.ts`: many clients start in the same second against one server; is every one backed up in that tick?
//
// Real `hashrelay client --once` processes (as many as memory allows) and, for the rest, the load driver
// (load-driver.ts: the real protocol, one socket and one listed key per simulated client) start at the same
// moment against the real server binary. It writes the fan-in section of RESULTS.md and fan-in.json.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startServer, type ServerProcess } from "../../src/testing/e2e-harness.ts";
import { makeFleet, runAllAtOnce, type ClientRun, type Fleet } from "../../src/testing/fleet.ts";
import type { DriverOutcome, DriverPlan } from "./load-driver.ts";
import { machineInfo, type MachineInfo } from "./machine.ts";
import { fmtBytes } from "./report.ts";
import { writeFanInResults } from "./results-file.ts";

const HERE = import.meta.dir;
const ROOT = path.resolve(HERE, "..", "..");

const USAGE = `usage: bun build/bench/fan-in.ts [--clients N] [--real N] [--source-mib F] [--slots N] [--out DIR] [--keep-work] [--no-build]

  --clients N     clients in all, started in the same second (default 500)
  --real N        of them, real client processes; the rest are simulated by load-driver.ts (default 100)
  --source-mib F  each client's source: one file of incompressible bytes (default 3)
  --slots N       server.limits.maxConnections (default 64, the server's default)
  --out DIR       where RESULTS.md (its fan-in section) and fan-in.json go (default build/bench)
  --keep-work     keep the server's storage and the clients' folders
  --no-build      use dist/hashrelay as it is (default: rebuild it first)`;

interface Options {
  clients: number;
  real: number;
  sourceBytes: number;
  slots: number;
  out: string;
  keepWork: boolean;
  build: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { clients: 500, real: 100, sourceBytes: 3 * 2 ** 20, slots: 64, out: HERE, keepWork: false, build: true };
  for (let i = 0; i < argv.length; i++) {
    const value = () => argv[++i] ?? fail(`${argv[i - 1]} needs a value`);
    const a = argv[i];
    if (a === "--clients") o.clients = Number(value());
    else if (a === "--real") o.real = Number(value());
    else if (a === "--source-mib") o.sourceBytes = Math.round(Number(value()) * 2 ** 20);
    else if (a === "--slots") o.slots = Number(value());
    else if (a === "--out") o.out = path.resolve(value());
    else if (a === "--keep-work") o.keepWork = true;
    else if (a === "--no-build") o.build = false;
    else fail(a === "--help" || a === "-h" ? "" : `unknown option ${a}`);
  }
  o.real = Math.min(o.real, o.clients);
  return o;
}

function fail(message: string): never {
  if (message) console.error(message);
  console.error(USAGE);
  process.exit(2);
}

export interface FanInResults {
  startedAt: string;
  options: Omit<Options, "out" | "keepWork" | "build">;
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
}

/** VmHWM (KiB) and user + system CPU seconds of a running process, from /proc. */
function processPeak(pid: number): { rssKiB: number; cpuSeconds: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const rssKiB = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
  const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  const hz = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;
  return { rssKiB, cpuSeconds: ticks / hz };
}

/** Starts the load driver for the simulated clients; resolves once its archives are built (it waits for SIGUSR2). */
async function startDriver(fleet: Fleet, o: Options, workDir: string) {
  const plan: DriverPlan = {
    port: fleet.port,
    serverKey: fleet.world.serverPub,
    sourceBytes: o.sourceBytes,
    variants: 8,
    busyWindowMs: 3_600_000,
    clients: fleet.clients
      .slice(o.real)
      .map((c) => ({ name: c.name, seed: Buffer.from(c.identity.secretKey.subarray(0, 32)).toString("base64") })),
  };
  const planFile = path.join(workDir, "driver-plan.json");
  fs.writeFileSync(planFile, JSON.stringify(plan), { mode: 0o600 });
  const child = spawn(process.execPath, [path.join(HERE, "load-driver.ts"), "--plan", planFile], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  const done = new Promise<DriverOutcome[]>((resolve, reject) =>
    child.once("exit", (code) => {
      const line = out.split("\n").find((l) => l.startsWith("["));
      if (line) resolve(JSON.parse(line) as DriverOutcome[]);
      else reject(new Error(`the load driver exited ${code} without results`));
    }),
  );
  while (!out.includes("ready")) {
    if (child.exitCode !== null) throw new Error("the load driver exited before it was ready");
    await Bun.sleep(50);
  }
  return { go: () => child.kill("SIGUSR2"), done };
}

/** How many BUSY answers a real client got before it was let in, and its handshakes tried again after a timeout, from its log. */
function triesOf(run: ClientRun): { busy: number; late: number } {
  const log = fs.readFileSync(path.join(run.client.state, "hashrelay.log"), "utf8");
  return {
    busy: Number(/let this client in after (\d+) BUSY/.exec(log)?.[1] ?? 0),
    late: log.split("did not finish the handshake").length - 1,
  };
}

async function run(o: Options): Promise<FanInResults> {
  if (o.build && spawnSync(process.execPath, [path.join(ROOT, "build", "build.ts")], { stdio: "inherit" }).status !== 0)
    fail("build failed");
  const loadAtStart = os.loadavg()[0]!;
  console.log(`fan-in: ${o.clients} clients (${o.real} real processes), ${fmtBytes(o.sourceBytes)} each, ${o.slots} session slots`);
  const fleet = await makeFleet(o.real, { simulated: o.clients - o.real, sourceBytes: o.sourceBytes, maxConnections: o.slots });
  let server: ServerProcess | null = null;
  try {
    server = await startServer(fleet.world);
    const driver = o.clients > o.real ? await startDriver(fleet, o, fleet.dir) : null;
    const startedAt = new Date();
    const started = Date.now();
    driver?.go();
    const [realRuns, simulated] = await Promise.all([runAllAtOnce(fleet.clients.slice(0, o.real)), driver?.done ?? Promise.resolve([])]);
    const wallMs = Date.now() - started;
    const peak = processPeak(server.child.pid!);
    const clients = [
      ...realRuns.map((r) => ({
        name: r.client.name,
        real: true,
        ok: r.status === 0 && r.report?.results[0]?.status === "sent",
        ms: r.ms,
        ...triesOf(r),
        ...(r.status === 0 ? {} : { error: r.report?.results[0]?.error ?? r.stderr.slice(-300) }),
      })),
      ...simulated.map((s) => ({ ...s, real: false })),
    ];
    const stored = storedArchives(fleet);
    return {
      startedAt: startedAt.toISOString(),
      options: { clients: o.clients, real: o.real, sourceBytes: o.sourceBytes, slots: o.slots },
      machine: machineInfo(fleet.dir, loadAtStart),
      commit: spawnSync("git", ["-C", ROOT, "rev-parse", "--short", "HEAD"], { encoding: "utf8" }).stdout.trim(),
      wallMs,
      clients,
      storedArchives: stored.count,
      storedBytes: stored.bytes,
      serverMaxRssKiB: peak.rssKiB,
      serverCpuSeconds: peak.cpuSeconds,
    };
  } finally {
    await server?.stop();
    if (o.keepWork && server) {
      fs.writeFileSync(path.join(fleet.dir, "server.log"), server.log());
      console.log(`kept ${fleet.dir} (server.log, nas/, one folder per real client)`);
    } else fs.rmSync(fleet.dir, { recursive: true, force: true });
  }
}

/** Archives under each client's folder of the server's storage, and their bytes. */
function storedArchives(fleet: Fleet): { count: number; bytes: number } {
  let count = 0;
  let bytes = 0;
  for (const c of fleet.clients) {
    const dir = path.join(fleet.world.storage, c.name);
    for (const f of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
      if (!f.endsWith(".tar.gz")) continue;
      count++;
      bytes += fs.statSync(path.join(dir, f)).size;
    }
  }
  return { count, bytes };
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/** The fan-in section of RESULTS.md. */
export function renderFanIn(r: FanInResults): string {
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
    ["**server max RSS**", `**${rssMiB.toFixed(0)} MiB** (target ≤ 512 MiB: ${rssMiB <= 512 ? "met" : "**not met**"})`],
    ["server CPU time", seconds(r.serverCpuSeconds * 1000)],
  ];
  return [
    "## Fan-in and floods (issue 17)",
    "",
    `Written by \`bun build/bench/fan-in.ts --clients ${o.clients} --real ${o.real} --source-mib ${o.sourceBytes / 2 ** 20} --slots ${o.slots}\` on ${r.startedAt} (commit ${r.commit}). Raw figures: [fan-in.json](fan-in.json).`,
    "",
    "| | |",
    "|---|---|",
    ...rows.map(([k, v]) => `| ${k} | ${v} |`),
    "",
    `Machine: ${r.machine.cpu}, ${r.machine.cores} logical cores, ${r.machine.memory}, ${r.machine.distro}; ${r.machine.disk}; load ${r.machine.load}. Clients, driver and server share the machine.`,
  ].join("\n");
}

if (import.meta.main) {
  const o = parseArgs(process.argv.slice(2));
  const results = await run(o);
  fs.mkdirSync(o.out, { recursive: true });
  fs.writeFileSync(path.join(o.out, "fan-in.json"), JSON.stringify(results, null, 2) + "\n");
  const markdown = renderFanIn(results);
  writeFanInResults(path.join(o.out, "RESULTS.md"), markdown);
  console.log(markdown);
}
