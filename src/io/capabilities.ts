// A process's effective Linux capabilities, as /proc/PID/status shows them.
import fs from "node:fs";

/** Read and search any file and folder, whatever its mode (capabilities(7)). */
export const CAP_DAC_READ_SEARCH = 2;

/**
 * True when `pid` (default: this process) has capability number `cap` in its effective set; false when it
 * does not, or when its status cannot be read (no /proc, the process is gone). Never throws.
 */
export function hasCapability(cap: number, pid: number | "self" = "self"): boolean {
  try {
    return capabilityInStatus(fs.readFileSync(`/proc/${pid}/status`, "utf8"), cap);
  } catch {
    return false;
  }
}

/** Whether the CapEff line of a /proc/PID/status text has bit `cap` set (false without that line). */
export function capabilityInStatus(status: string, cap: number): boolean {
  const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  return hex !== undefined && ((BigInt(`0x${hex}`) >> BigInt(cap)) & 1n) === 1n;
}
