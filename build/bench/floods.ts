// The flood half of the issue-17 bench: strangers flood the real server's port while a listed client runs 10 ticks.
//
//   bun build/bench/floods.ts [--out DIR]     (writes floods.json and the section of RESULTS.md in DIR)
//
// The same floods as src/e2e/flood.test.ts (which asserts the 10 of 10 in CI), here with the figures a test
// must not assert: each tick's wall time under the flood, the flood's rate, the server's peak RSS and CPU,
// and the log lines the flood cost. One fresh server per flood, so that each peak is that flood's.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { childOutput } from "../../src/testing/child-output.ts";
import { keygen, makeWorld, ROOT, runClientOnce, startServer, tempDir, writeServerConfig } from "../../src/testing/e2e-harness.ts";
import { writeIssue17Section, type FloodsFile } from "./fan-in-report.ts";
import { processPeak } from "./process-peak.ts";

const HERE = import.meta.dir;
const FLOOD = path.join(ROOT, "src", "testing", "stranger-flood.ts");
const TICKS = 10;

export interface FloodCase {
  id: string;
  what: string;
  args: (keys: { stranger: string; otherPub: string }) => string[];
}

export const FLOOD_CASES: FloodCase[] = [
  { id: "connect", what: "2,000 silent connections a second", args: () => ["--mode", "connect", "--rate", "2000"] },
  {
    id: "slow",
    what: "300 slow strangers (a HELLO byte every 400 ms), reopened as they are cut",
    args: () => ["--mode", "slow", "--count", "300"],
  },
  {
    id: "hello",
    what: "300 strangers sending HELLOs of their own key, reopened",
    args: (k) => ["--mode", "hello", "--count", "300", "--key", k.stranger],
  },
  {
    id: "claim",
    what: "300 strangers claiming another listed client's public key, reopened after each answer",
    args: (k) => ["--mode", "hello", "--count", "300", "--after-hello", "close", "--key", k.otherPub],
  },
];

export interface FloodResult {
  id: string;
  what: string;
  ticksOk: number;
  ticks: number;
  /** Each tick's wall time, ms, in order. */
  tickMs: number[];
  /** The flood's own tally (stranger-flood.ts): opened, cutByServer, answered, admitted, seconds. */
  tally: Record<string, number>;
  serverMaxRssKiB: number;
  serverCpuSeconds: number;
  /** Server log lines during the case, and those about refused connections. */
  logLines: number;
  refusalLines: number;
}

/** One flood against a fresh server while the listed client runs TICKS ticks of a small, changing source. */
async function runCase(c: FloodCase): Promise<FloodResult> {
  const source = tempDir("flood-src");
  fs.writeFileSync(path.join(source, "log.txt"), "start\n");
  const world = await makeWorld([source]);
  const otherPub = path.join(world.dir, "other.pub");
  fs.writeFileSync(otherPub, `${keygen(path.join(world.dir, "other.key"))}\n`);
  writeServerConfig(world, [
    { name: "web01", key: world.clientPub },
    { name: "web02", key: fs.readFileSync(otherPub, "utf8").trim() },
  ]);
  fs.appendFileSync(world.clientConfig, "  busyWindow: 60s\n");
  const stranger = path.join(world.dir, "stranger.key");
  keygen(stranger);
  const server = await startServer(world);
  const child = spawn(process.execPath, [FLOOD, "--port", String(world.port), "--seconds", "600", ...c.args({ stranger, otherPub })], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const out = childOutput(child);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  try {
    await out.printed("flooding", 30_000);
    const tickMs: number[] = [];
    let ticksOk = 0;
    for (let i = 0; i < TICKS; i++) {
      fs.appendFileSync(path.join(source, "log.txt"), `tick ${i} ${Date.now()}\n`);
      const started = Date.now();
      const { status, report } = runClientOnce(world);
      tickMs.push(Date.now() - started);
      if (status === 0 && report.results[0]?.status === "sent") ticksOk++;
    }
    child.kill("SIGTERM");
    await exited;
    const peak = processPeak(server.child.pid!);
    const lines = server.log().split("\n").filter(Boolean);
    const summary = out
      .text()
      .split("\n")
      .find((l) => l.startsWith("{"));
    return {
      id: c.id,
      what: c.what,
      ticksOk,
      ticks: TICKS,
      tickMs,
      tally: summary ? (JSON.parse(summary) as Record<string, number>) : {},
      serverMaxRssKiB: peak.rssKiB,
      serverCpuSeconds: peak.cpuSeconds,
      logLines: lines.length,
      refusalLines: lines.filter((l) => l.includes("refused")).length,
    };
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
    await server.stop();
    fs.rmSync(world.dir, { recursive: true, force: true });
    fs.rmSync(source, { recursive: true, force: true });
  }
}

/** Every flood case, one after the other. */
export async function runFloods(): Promise<FloodResult[]> {
  const results: FloodResult[] = [];
  for (const c of FLOOD_CASES) {
    console.log(`flood: ${c.what}`);
    results.push(await runCase(c));
  }
  return results;
}

if (import.meta.main) {
  const at = process.argv.indexOf("--out");
  const out = at > 0 ? path.resolve(process.argv[at + 1]!) : HERE;
  const loadAtStart = os.loadavg()[0]!;
  const startedAt = new Date().toISOString();
  const results = await runFloods();
  const file: FloodsFile = {
    startedAt,
    commit: spawnSync("git", ["-C", ROOT, "rev-parse", "--short", "HEAD"], { encoding: "utf8" }).stdout.trim(),
    load: `${loadAtStart.toFixed(2)} at start, ${os.loadavg()[0]!.toFixed(2)} at the end`,
    results,
  };
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, "floods.json"), JSON.stringify(file, null, 2) + "\n");
  console.log(writeIssue17Section(out));
}
