// `npm run bench`: builds a data set, runs its scenarios (backups, then a restore) for hashrelay, rsync -z, restic and tar, writes RESULTS.md.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { machineInfo, toolVersions } from "./machine.ts";
import { WAN } from "./link-shaper.ts";
import { GNU_TIME, copyTree, directoryBytes, installCleanup, killAll } from "./processes.ts";
import type { LoopFsType } from "../../src/testing/loop-fs.ts";
import { evaluateTargets, fmtBytes, renderMarkdown, type BenchResults, type ScenarioId, type ScenarioOutcome } from "./report.ts";
import { writeResults } from "./results-sections.ts";
import { DATA_SETS, floorLines, prepareData, type DataSetName } from "./scenarios.ts";
import { hashrelayTool } from "./tools/hashrelay.ts";
import { startCephRgw } from "../../src/testing/ceph-rgw.ts";
import { resticTool } from "./tools/restic.ts";
import { rsyncTool } from "./tools/rsync.ts";
import { tarTool } from "./tools/tar.ts";
import type { BenchTool, RunMeasure } from "./tools/tool.ts";

const HERE = import.meta.dir;
const ROOT = path.resolve(HERE, "..", "..");
const BINARY = path.join(ROOT, "dist", "hashrelay");
const ALL_TOOLS = ["hashrelay", "rsync", "restic", "tar"] as const;
type ToolName = (typeof ALL_TOOLS)[number];

const USAGE = `usage: npm run bench -- [--data NAME] [--corpus DIR] [--seed N] [--scale F] [--files N] [--repeats N] [--tools a,b] [--scenarios A,B,E] [--server-fs xfs|ext4|btrfs] [--storage local|s3] [--wan] [--work DIR] [--out DIR] [--keep-work] [--no-build]

  --data NAME    ${DATA_SETS.join(" or ")} (default standard; many-files: scenarios A, B and E only)
  --corpus DIR   real: the frozen real-files corpus (default build/bench/corpus/real; frozen from this
                 machine's /usr/include, Python library, /usr/share/doc, /etc and /usr/bin on first use)
  --seed N       data set seed (default 1)
  --scale F      standard and real: 1.0 = the issue's ~411 MiB tree (default); 0.05 = a ~21 MiB smoke run; up to 16
  --files N      many-files: how many small files (default 1000000)
  --repeats N    runs per tool and scenario; wall time is their median (default 3)
  --tools LIST   any of ${ALL_TOOLS.join(",")} (default all)
  --scenarios L  run only these of the data set's scenarios, e.g. A,B,E (default all; A is needed, the others start from it; the others' mutations are skipped)
  --server-fs T  hashrelay's server storage on a T (xfs with reflink=1, ext4 or btrfs) loop file system the bench
                 makes and removes (needs root); each run then records the server's write_bytes and the growth
                 of that file system (issue 16)
  --storage S    s3: hashrelay's server stores into a real single-node Ceph RGW the bench starts
                 (src/testing/ceph-rgw.ts; the local folder is then its cache), and each run notes the
                 bytes the server uploaded to the bucket and had copied inside it (issue 19); needs --repeats 1
  --wan          through a WAN: the proxy adds 25 ms each way and paces at 20 Mbit/s (restic, local, is left out)
  --work DIR     working data (default build/bench/work, emptied first)
  --out DIR      where RESULTS.md and results.json go (default build/bench)
  --keep-work    keep the tree and every destination after the run
  --no-build     use dist/hashrelay as it is (default: rebuild it first)

Needs rsync, restic and GNU time (Debian: sudo apt-get install -y rsync restic time).`;

interface Options {
  data: DataSetName;
  corpus: string;
  seed: number;
  scale: number;
  files: number;
  repeats: number;
  tools: ToolName[];
  scenarios: ScenarioId[] | null;
  serverFs: LoopFsType | null;
  storage: "local" | "s3";
  work: string;
  out: string;
  keepWork: boolean;
  build: boolean;
  wan: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    data: "standard",
    corpus: path.join(HERE, "corpus", "real"),
    seed: 1,
    scale: 1,
    files: 1_000_000,
    repeats: 3,
    tools: [...ALL_TOOLS],
    scenarios: null,
    serverFs: null,
    storage: "local",
    work: path.join(HERE, "work"),
    out: HERE,
    keepWork: false,
    build: true,
    wan: false,
  };
  const value = (i: number) => {
    const v = argv[i + 1];
    if (v === undefined) fail(`${argv[i]} needs a value`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "-h" || a === "--help") {
      console.log(USAGE);
      process.exit(0);
    } else if (a === "--data") o.data = value(i++) as DataSetName;
    else if (a === "--corpus") o.corpus = path.resolve(value(i++));
    else if (a === "--seed") o.seed = Number(value(i++));
    else if (a === "--scale") o.scale = Number(value(i++));
    else if (a === "--files") o.files = Number(value(i++));
    else if (a === "--repeats") o.repeats = Number(value(i++));
    else if (a === "--tools") o.tools = value(i++).split(",") as ToolName[];
    else if (a === "--scenarios") o.scenarios = value(i++).split(",") as ScenarioId[];
    else if (a === "--server-fs") o.serverFs = value(i++) as LoopFsType;
    else if (a === "--storage") o.storage = value(i++) as Options["storage"];
    else if (a === "--work") o.work = path.resolve(value(i++));
    else if (a === "--out") o.out = path.resolve(value(i++));
    else if (a === "--keep-work") o.keepWork = true;
    else if (a === "--no-build") o.build = false;
    else if (a === "--wan") o.wan = true;
    else fail(`unknown option ${a}`);
  }
  if (!Number.isInteger(o.seed)) fail("--seed must be an integer");
  if (!DATA_SETS.includes(o.data)) fail(`--data must be one of ${DATA_SETS.join(", ")}`);
  if (!(o.scale > 0 && o.scale <= 16)) fail("--scale must be in (0, 16]");
  if (!(Number.isInteger(o.files) && o.files >= 1)) fail("--files must be a whole number >= 1");
  if (!(Number.isInteger(o.repeats) && o.repeats >= 1)) fail("--repeats must be a whole number >= 1");
  if (o.serverFs && !["xfs", "ext4", "btrfs"].includes(o.serverFs)) fail("--server-fs must be xfs, ext4 or btrfs");
  if (o.storage !== "local" && o.storage !== "s3") fail("--storage must be local or s3");
  // B to E and the restore start from A's first backup: without A, C would be timed as a first backup
  if (o.scenarios && !o.scenarios.includes("A")) fail("--scenarios must include A, which every other scenario starts from (e.g. A,C)");
  // a bucket cannot be set back between repeats as the tools' folders are
  if (o.storage === "s3" && (o.repeats !== 1 || o.serverFs)) fail("--storage s3 needs --repeats 1 and no --server-fs");
  const unknown = o.tools.filter((t) => !ALL_TOOLS.includes(t));
  if (unknown.length) fail(`unknown tool(s) ${unknown.join(", ")}: pick from ${ALL_TOOLS.join(",")}`);
  // restic writes to a local repository: no link to put a WAN on
  if (o.wan) o.tools = o.tools.filter((t) => t !== "restic");
  return o;
}

function fail(message: string): never {
  console.error(`bench: ${message}\n\n${USAGE}`);
  process.exit(2);
}

/** Exits 2 with the exact apt-get line when a command the chosen tools need is missing. */
function checkCommands(tools: ToolName[]): void {
  const needs: [string, string][] = [
    [GNU_TIME, "time"],
    ["cp", "coreutils"],
  ];
  if (tools.includes("rsync")) needs.push(["rsync", "rsync"]);
  if (tools.includes("restic")) needs.push(["restic", "restic"]);
  if (tools.includes("tar")) needs.push(["tar", "tar"], ["gzip", "gzip"]);
  const missing = needs.filter(([cmd]) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status !== 0);
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map(([, pkg]) => pkg))];
  console.error(
    `bench: missing ${missing.map(([cmd]) => cmd).join(", ")}. On Debian/Ubuntu install with:\n\n  sudo apt-get install -y ${packages.join(" ")}\n\nor leave tools out, e.g. --tools hashrelay,tar`,
  );
  process.exit(2);
}

function line(tool: string, m: RunMeasure, i: number, repeats: number): string {
  const rss = (k: number | null) => (k === null ? "—" : fmtBytes(k * 1024));
  return `    ${tool.padEnd(9)} run ${i + 1}/${repeats}: ${fmtBytes(m.bytesClientToServer).padStart(10)} client→server, ${(m.wallMs / 1000).toFixed(2)} s, max RSS client ${rss(m.clientRssKiB)} server ${rss(m.serverRssKiB)}${m.notes["turns"] === undefined ? "" : `, ${m.notes["turns"]} turns`}`;
}

/** Every tool's repeats of one backup scenario, each from the state the scenario started in. */
async function backupAll(tools: BenchTool[], o: Options, outcome: ScenarioOutcome, failed: Map<string, string>): Promise<void> {
  for (const tool of tools) {
    await repeatTool(tool, o.repeats, outcome, failed, {
      one: (i) => {
        for (const dir of tool.stateDirs) i === 0 ? copyTree(dir, `${dir}.before`) : copyTree(`${dir}.before`, dir);
        return tool.run();
      },
      cleanup: () => {
        for (const dir of tool.stateDirs) fs.rmSync(`${dir}.before`, { recursive: true, force: true });
      },
    });
  }
}

/**
 * Scenario R: every tool that can restores its newest backup into an empty folder, each repeat anew (tar
 * extracts hashrelay's stored archive when hashrelay ran); the restored bytes must be the tree's.
 */
async function restoreAll(tools: BenchTool[], o: Options, outcome: ScenarioOutcome, failed: Map<string, string>): Promise<void> {
  const archive = tools.find((t) => t.storedArchive)?.storedArchive?.() ?? null;
  const treeBytes = directoryBytes(path.join(o.work, "tree"));
  for (const tool of tools) {
    const restore = tool.restore?.bind(tool);
    if (!restore) continue;
    const into = path.join(o.work, `${tool.name}-restored`);
    await repeatTool(tool, o.repeats, outcome, failed, {
      one: async () => {
        fs.rmSync(into, { recursive: true, force: true });
        fs.mkdirSync(into);
        const m = await restore(into, archive);
        const restored = directoryBytes(into);
        if (restored !== treeBytes) throw new Error(`restored ${restored} bytes of files, the tree holds ${treeBytes}`);
        return m;
      },
      cleanup: () => fs.rmSync(into, { recursive: true, force: true }),
    });
  }
}

/** Runs `one` `repeats` times for `tool` into outcome.runs; a failure is recorded (and skips the tool from then on). `cleanup` runs last. */
async function repeatTool(
  tool: BenchTool,
  repeats: number,
  outcome: ScenarioOutcome,
  failed: Map<string, string>,
  step: { one: (i: number) => Promise<RunMeasure>; cleanup: () => void },
): Promise<void> {
  if (failed.has(tool.name)) {
    outcome.errors[tool.name] = `skipped: failed in an earlier scenario (${failed.get(tool.name)!.split("\n")[0]})`;
    step.cleanup();
    return;
  }
  const runs: RunMeasure[] = [];
  outcome.runs[tool.name] = runs;
  try {
    for (let i = 0; i < repeats; i++) {
      const m = await step.one(i);
      runs.push(m);
      console.log(line(tool.name, m, i, repeats));
    }
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    console.error(`    ${tool.name} FAILED: ${message}`);
    outcome.errors[tool.name] = message;
    failed.set(tool.name, message);
  } finally {
    step.cleanup();
  }
}

async function main(): Promise<number> {
  const o = parseArgs(process.argv.slice(2));
  checkCommands(o.tools);
  const started = performance.now();
  const startedAt = new Date().toISOString();
  const loadAtStart = os.loadavg()[0]!;
  installCleanup(() => {
    if (!o.keepWork) fs.rmSync(o.work, { recursive: true, force: true });
  });
  if (o.tools.includes("hashrelay")) {
    if (o.build) {
      console.log("building dist/hashrelay");
      const built = spawnSync(process.execPath, [path.join(ROOT, "build", "build.ts")], { stdio: "inherit", cwd: ROOT });
      if (built.status !== 0) throw new Error("build failed");
    } else if (!fs.existsSync(BINARY)) fail("dist/hashrelay is missing: run npm run build, or drop --no-build");
  }

  fs.rmSync(o.work, { recursive: true, force: true });
  fs.mkdirSync(o.work, { recursive: true });
  const tree = path.join(o.work, "tree");
  console.log(`data set ${o.data}: seed ${o.seed}, ${o.data === "many-files" ? `${o.files} files` : `scale ${o.scale}`} → ${tree}`);
  const data = prepareData(o.data, o, tree);
  const dataset = data.summary;
  const plans = data.scenarios.filter((sc) => !o.scenarios || o.scenarios.includes(sc.id));
  if (o.scenarios && plans.length !== o.scenarios.length)
    fail(`--scenarios: data set ${o.data} has ${data.scenarios.map((sc) => sc.id).join(", ")}`);
  console.log(`  ${dataset.files.toLocaleString("en")} files, ${fmtBytes(dataset.bytes)} in ${dataset.generateSeconds.toFixed(1)} s`);

  // room for the archive, its predecessor in the trash and, on a file system that cannot clone, their copies before each scenario
  const serverFs = o.serverFs ? { type: o.serverFs, sizeMiB: Math.max(1024, Math.ceil((dataset.bytes * 2.5) / 2 ** 20)) } : undefined;
  const rgw = o.storage === "s3" && o.tools.includes("hashrelay") ? await startCephRgw() : null;
  if (o.storage === "s3" && o.tools.includes("hashrelay") && !rgw) fail("--storage s3: Ceph did not start (see the banner above)");
  if (rgw) console.log(`  Ceph RGW up in ${rgw.startSeconds.toFixed(1)} s at ${rgw.endpoint}`);
  const tools: BenchTool[] = [];
  for (const name of o.tools) {
    const setup = { work: path.join(o.work, name), tree, link: o.wan ? WAN : undefined };
    if (name === "hashrelay") tools.push(await hashrelayTool({ ...setup, binary: BINARY, serverFs, ...(rgw && { rgw }) }));
    if (name === "rsync") tools.push(await rsyncTool(setup));
    if (name === "restic") tools.push(await resticTool(setup));
    if (name === "tar") tools.push(await tarTool(setup));
  }

  const failed = new Map<string, string>();
  const scenarios: ScenarioOutcome[] = [];
  for (const sc of plans) {
    const outcome: ScenarioOutcome = { id: sc.id, title: sc.title, runs: {}, errors: {}, ...sc.mutate?.() };
    console.log(`\nscenario ${sc.id}: ${sc.title}`);
    for (const floor of floorLines(outcome, fmtBytes)) console.log(`  ${floor}`);
    if (sc.restore) await restoreAll(tools, o, outcome, failed);
    else await backupAll(tools, o, outcome, failed);
    scenarios.push(outcome);
  }
  for (const tool of tools) await tool.close();
  await rgw?.stop();

  const results: BenchResults = {
    startedAt,
    totalSeconds: (performance.now() - started) / 1000,
    options: {
      seed: o.seed,
      scale: o.scale,
      repeats: o.repeats,
      tools: o.tools,
      data: o.data,
      files: o.files,
      ...(o.scenarios && { scenarios: o.scenarios }),
      ...(o.serverFs && { serverFs: o.serverFs }),
      ...(o.storage === "s3" && { storage: o.storage }),
      ...(o.wan && { wan: o.wan }),
    },
    machine: machineInfo(o.work, loadAtStart),
    versions: toolVersions(BINARY),
    dataset,
    toolSetups: Object.fromEntries(tools.map((t) => [t.name, t.describe])),
    scenarios,
    targets: evaluateTargets(scenarios, o.data, o.wan),
  };
  fs.mkdirSync(o.out, { recursive: true });
  fs.writeFileSync(path.join(o.out, "results.json"), JSON.stringify(results, null, 2) + "\n");
  writeResults(path.join(o.out, "RESULTS.md"), renderMarkdown(results));
  console.log(
    `\nwrote ${path.relative(process.cwd(), path.join(o.out, "RESULTS.md"))} and results.json (${Math.round(results.totalSeconds)} s in all)`,
  );
  for (const t of results.targets) {
    const fmt = (v: number | null) =>
      v === null ? "—" : t.unit === "KiB" ? fmtBytes(v * 1024) : t.unit === "ms" ? `${(v / 1000).toFixed(2)} s` : fmtBytes(v);
    console.log(
      `  ${t.scenario} ${t.target.padEnd(48)} ${fmt(t.measured).padStart(10)} vs ${fmt(t.limit).padStart(10)}  ${t.met === null ? "n/a" : t.met ? "met" : "NOT MET"}`,
    );
  }
  if (!o.keepWork) fs.rmSync(o.work, { recursive: true, force: true });
  return failed.size > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    killAll();
    process.exit(1);
  },
);
