// The machine and the tool versions a bench run used, for RESULTS.md.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { GNU_TIME, versionLine } from "./processes.ts";

export interface MachineInfo {
  cpu: string;
  cores: number;
  memory: string;
  kernel: string;
  distro: string;
  disk: string;
  /** 1-minute load average when the run started and when it ended: other work on the machine slows wall times. */
  load: string;
}

function readOr(file: string, fallback: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return fallback;
  }
}

/** CPU model, logical cores, memory, kernel, distribution, the work folder's file system, load at start and now. */
export function machineInfo(workDir: string, loadAtStart: number): MachineInfo {
  const distro = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readOr("/etc/os-release", ""))?.[1] ?? os.type();
  const df = spawnSync("df", ["-T", workDir], { encoding: "utf8" }).stdout?.trim().split("\n")[1]?.split(/\s+/);
  return {
    cpu: os.cpus()[0]?.model.trim() ?? "unknown",
    cores: os.cpus().length,
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    kernel: `${os.type()} ${os.release()} ${os.arch()}`,
    distro,
    disk: df ? `${df[1]} on ${df[0]}` : "unknown",
    load: `${loadAtStart.toFixed(2)} at start, ${os.loadavg()[0]!.toFixed(2)} at the end (1-minute load average)`,
  };
}

function gitCommit(root: string): string {
  const head = spawnSync("git", ["-C", root, "rev-parse", "--short", "HEAD"], { encoding: "utf8" });
  if (head.status !== 0) return "unknown commit";
  const dirty = spawnSync("git", ["-C", root, "status", "--porcelain", "--untracked-files=no", "src"], { encoding: "utf8" }).stdout.trim();
  return `commit ${head.stdout.trim()}${dirty ? " + uncommitted changes under src/" : ""}`;
}

/** "GNU time, Debian package time 1.9-0.2" style, or null off Debian. */
function debianVersion(pkg: string): string | null {
  const r = spawnSync("dpkg-query", ["-W", "-f", "${Version}", pkg], { encoding: "utf8" });
  return r.status === 0 && r.stdout ? `GNU ${pkg}, Debian package ${pkg} ${r.stdout}` : null;
}

/** One line per tool: what `--version` (or its equivalent) printed first. */
export function toolVersions(binary: string): Record<string, string> {
  const root = path.resolve(path.dirname(binary), "..");
  return {
    hashrelay: `${versionLine(binary)} (${gitCommit(root)})`,
    bun: `bun ${Bun.version}`,
    rsync: versionLine("rsync"),
    "rsync compression":
      /Compress list:\s*\n\s*(.*)/.exec(spawnSync("rsync", ["--version"], { encoding: "utf8" }).stdout ?? "")?.[1]?.trim() ?? "unknown",
    restic: versionLine("restic", ["version"]),
    gzip: versionLine("gzip"),
    tar: versionLine("tar"),
    time: debianVersion("time") ?? versionLine(GNU_TIME),
  };
}
