// Runs the tools under GNU time (wall time, max RSS) and tracks every process the bench starts, so Ctrl-C leaves none behind.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { childrenOf } from "../../src/testing/process-children.ts";

export const GNU_TIME = "/usr/bin/time";

/** Every process group the bench started and has not seen exit. */
const live = new Set<ChildProcess>();

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

/** Kills every process group still running (SIGKILL: used on exit and on Ctrl-C). */
export function killAll(): void {
  for (const child of live) killGroup(child, "SIGKILL");
  live.clear();
}

/** On SIGINT/SIGTERM: kill every child group, run onSignal (e.g. delete the work folder), exit 130. */
export function installCleanup(onSignal: () => void): void {
  const handler = (signal: NodeJS.Signals) => {
    console.error(`\n${signal}: stopping every process the bench started`);
    killAll();
    try {
      onSignal();
    } finally {
      process.exit(130);
    }
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  process.on("exit", killAll);
}

/** Spawns argv in its own process group, tracked for cleanup. */
function track(argv: string[], opts: { cwd?: string; env?: Record<string, string>; stdio: ("pipe" | "ignore" | number)[] }): ChildProcess {
  const child = spawn(argv[0]!, argv.slice(1), {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: opts.stdio as never,
    detached: true,
  });
  live.add(child);
  child.once("exit", () => live.delete(child));
  return child;
}

/** The maximum resident set size GNU time wrote to file (KiB), or null when it wrote none. */
function readMaxRss(file: string): number | null {
  if (!fs.existsSync(file)) return null;
  const lines = fs.readFileSync(file, "utf8").trim().split("\n");
  const last = lines[lines.length - 1]?.trim() ?? "";
  return /^\d+$/.test(last) ? Number(last) : null;
}

export interface TimedRun {
  code: number | null;
  signal: string | null;
  wallMs: number;
  /** GNU time %M: the largest resident set of the process or of any descendant it waited for, in KiB. */
  maxRssKiB: number | null;
  stdout: string;
  stderr: string;
}

export interface TimedProcess {
  child: ChildProcess;
  done: Promise<TimedRun>;
}

/**
 * Starts argv under `time -f %M`. With pipeStdout the caller reads child.stdout itself (stdout in the result stays empty);
 * otherwise stdout and stderr are collected. Never rejects: a failed start shows as code null.
 */
export function spawnTimed(
  argv: string[],
  rssFile: string,
  opts: { cwd?: string; env?: Record<string, string>; pipeStdout?: boolean } = {},
): TimedProcess {
  fs.rmSync(rssFile, { force: true });
  const started = performance.now();
  const child = track([GNU_TIME, "-f", "%M", "-o", rssFile, ...argv], { cwd: opts.cwd, env: opts.env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  if (!opts.pipeStdout) child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-64 * 1024)));
  const done = new Promise<TimedRun>((resolve) => {
    child.once("error", (err) =>
      resolve({ code: null, signal: null, wallMs: 0, maxRssKiB: null, stdout, stderr: `${stderr}${err.message}` }),
    );
    child.once("close", (code, signal) => {
      const wallMs = performance.now() - started;
      resolve({ code, signal, wallMs, maxRssKiB: readMaxRss(rssFile), stdout, stderr });
    });
  });
  return { child, done };
}

/** Runs argv to the end under GNU time. */
export function runTimed(argv: string[], rssFile: string, opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<TimedRun> {
  return spawnTimed(argv, rssFile, opts).done;
}

export interface Service {
  /** Everything the service wrote to its log file so far. */
  log(): string;
  /** The service's own write_bytes and read_bytes so far (/proc/PID/io: bytes sent to or fetched from the storage layer). */
  io(): { written: number; read: number };
  /** SIGTERM to the service (not to GNU time, so time still reports), waits for the exit; SIGKILL after 20 s. */
  stop(): Promise<{ code: number | null; maxRssKiB: number | null }>;
}

/**
 * Starts a long-running server under GNU time, stdout+stderr to logFile; resolves once readyFile (default logFile)
 * shows readyText. Throws if it exits first or after 30 s.
 */
export async function startService(
  argv: string[],
  opts: { rssFile: string; logFile: string; readyText: string; readyFile?: string; cwd?: string; env?: Record<string, string> },
): Promise<Service> {
  fs.rmSync(opts.rssFile, { force: true });
  fs.mkdirSync(path.dirname(opts.logFile), { recursive: true });
  const logFd = fs.openSync(opts.logFile, "w");
  const child = track([GNU_TIME, "-f", "%M", "-o", opts.rssFile, ...argv], {
    cwd: opts.cwd,
    env: opts.env,
    stdio: ["ignore", logFd, logFd],
  });
  fs.closeSync(logFd);
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  const read = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "");
  const log = () => read(opts.logFile);
  const deadline = Date.now() + 30_000;
  while (!read(opts.readyFile ?? opts.logFile).includes(opts.readyText)) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${argv.join(" ")} exited before it was ready:\n${log()}`);
    if (Date.now() > deadline) {
      killGroup(child, "SIGKILL");
      throw new Error(`${argv.join(" ")} was not ready after 30 s:\n${log()}`);
    }
    await Bun.sleep(20);
  }
  return {
    log,
    io: () => processIo(childrenOf(child.pid!)[0] ?? child.pid!),
    stop: async () => {
      for (const pid of childrenOf(child.pid!)) process.kill(pid, "SIGTERM");
      const timer = setTimeout(() => killGroup(child, "SIGKILL"), 20_000);
      const code = await exited;
      clearTimeout(timer);
      return { code, maxRssKiB: readMaxRss(opts.rssFile) };
    },
  };
}

/** write_bytes and read_bytes of process `pid` so far (/proc/PID/io; a clone or a rename writes none). */
function processIo(pid: number): { written: number; read: number } {
  const text = fs.readFileSync(`/proc/${pid}/io`, "utf8");
  const field = (name: string) => Number(new RegExp(`^${name}: (\\d+)`, "m").exec(text)?.[1] ?? Number.NaN);
  return { written: field("write_bytes"), read: field("read_bytes") };
}

/** Sum of the sizes of every regular file under dir (what the folder occupies, apparent size). */
export function directoryBytes(dir: string): number {
  let total = 0;
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) total += fs.statSync(p).size;
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return total;
}

/** Replaces dst with a copy of src (cp -a, reflinks where the file system has them). Throws on failure. */
export function copyTree(src: string, dst: string): void {
  fs.rmSync(dst, { recursive: true, force: true });
  const r = spawnSync("cp", ["-a", "--reflink=auto", src, dst], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`cp -a ${src} ${dst} failed: ${r.stderr}`);
}

/** First line of `command args` (stdout or stderr), or "not installed". */
export function versionLine(command: string, args: string[] = ["--version"]): string {
  const r = spawnSync(command, args, { encoding: "utf8" });
  if (r.error || r.status === null) return "not installed";
  return `${r.stdout}${r.stderr}`.trim().split("\n")[0] ?? "";
}
