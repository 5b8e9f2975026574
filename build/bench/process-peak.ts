// A running process's peak resident set and CPU time so far, read from /proc (for the benches' server figures).
import { spawnSync } from "node:child_process";
import fs from "node:fs";

/** VmHWM (KiB) and user + system CPU seconds of a running process. */
export function processPeak(pid: number): { rssKiB: number; cpuSeconds: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const rssKiB = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
  const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  const hz = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;
  return { rssKiB, cpuSeconds: ticks / hz };
}
