// `bun build/bench/fan-in.ts`: many clients start in the same second against one server; is every one backed up in that tick?
//
// Real `hashrelay client --once` processes (as many as memory allows) and, for the rest, the load driver
// (load-driver.ts: the real protocol, one socket and one listed key per simulated client) start at the same
// moment against the real server binary. It writes fan-in-N.json (N: the clients; one record per run) and, from every such file beside it, the section of RESULTS.md.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startServer, type ServerProcess } from "../../src/testing/e2e-harness.ts";
import { childOutput } from "../../src/testing/child-output.ts";
import { makeFleet, runAllAtOnce, type ClientRun, type Fleet } from "../../src/testing/fleet.ts";
import type { DriverOutcome, DriverPlan } from "./load-driver.ts";
import { machineInfo } from "./machine.ts";
import { processPeak } from "./process-peak.ts";
import { fmtBytes } from "./report.ts";
import { writeIssue17Section, type FanInResults } from "./fan-in-report.ts";

const HERE = import.meta.dir;
const ROOT = path.resolve(HERE, "..", "..");

const USAGE = `usage: bun build/bench/fan-in.ts [--clients N] [--real N] [--source-mib F] [--slots N] [--repeats N] [--out DIR] [--keep-work] [--no-build]

  --clients N     clients in all, started in the same second (default 500)
  --real N        of them, real client processes; the rest are simulated by load-driver.ts (default 100)
  --source-mib F  each client's source: one file of incompressible bytes (default 3)
  --slots N       server.limits.maxConnections (default 64, the server's default)
  --repeats N     runs in a row, each on a fresh server and fresh clients (default 1)
  --out DIR       where RESULTS.md (its section) and fan-in-N.json go (default build/bench)
  --keep-work     keep the server's storage and the clients' folders
  --no-build      use dist/hashrelay as it is (default: rebuild it first)`;

export interface Options {
  clients: number;
  real: number;
  sourceBytes: number;
  slots: number;
  repeats: number;
  out: string;
  keepWork: boolean;
  build: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { clients: 500, real: 100, sourceBytes: 3 * 2 ** 20, slots: 64, repeats: 1, out: HERE, keepWork: false, build: true };
  for (let i = 0; i < argv.length; i++) {
    const value = () => argv[++i] ?? fail(`${argv[i - 1]} needs a value`);
    const a = argv[i];
    if (a === "--clients") o.clients = Number(value());
    else if (a === "--real") o.real = Number(value());
    else if (a === "--source-mib") o.sourceBytes = Math.round(Number(value()) * 2 ** 20);
    else if (a === "--slots") o.slots = Number(value());
    else if (a === "--repeats") o.repeats = Number(value());
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
  const out = childOutput(child);
  const done = new Promise<DriverOutcome[]>((resolve, reject) =>
    child.once("exit", (code) => {
      const line = out
        .text()
        .split("\n")
        .find((l) => l.startsWith("["));
      if (line) resolve(JSON.parse(line) as DriverOutcome[]);
      else reject(new Error(`the load driver exited ${code} without results`));
    }),
  );
  // Building the archives takes a few seconds a variant on a loaded machine.
  await out.printed("ready", 600_000);
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
      bun: Bun.version,
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

if (import.meta.main) {
  const o = parseArgs(process.argv.slice(2));
  const runs: FanInResults[] = [];
  for (let i = 0; i < o.repeats; i++) runs.push(await run({ ...o, build: o.build && i === 0 }));
  fs.mkdirSync(o.out, { recursive: true });
  fs.writeFileSync(path.join(o.out, `fan-in-${o.clients}.json`), JSON.stringify(runs, null, 2) + "\n");
  console.log(writeIssue17Section(o.out));
}
