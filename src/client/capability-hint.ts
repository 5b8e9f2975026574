// What `client --once` adds to a permission-denied failure when the running service would have read the file.
import { daemonRunning } from "../daemon/daemon-status.ts";
import { CAP_DAC_READ_SEARCH, hasCapability } from "../io/capabilities.ts";
import { readDaemonRecord } from "./service.ts";
import type { SourceResult } from "./source-result.ts";

export const CAPABILITY_HINT =
  "the service reads this with CAP_DAC_READ_SEARCH; run `hashrelay backup-now` to back up with the service's privileges";

/**
 * The results, each permission-denied failure extended by CAPABILITY_HINT when this process lacks
 * CAP_DAC_READ_SEARCH while the client daemon of `stateDir` runs with it (as its unit grants); otherwise
 * the results as they are. Never throws.
 */
export function withCapabilityHints(results: SourceResult[], stateDir: string): SourceResult[] {
  const denied = (r: SourceResult) => r.status === "failed" && /permission denied/.test(r.error ?? "");
  if (!results.some(denied) || hasCapability(CAP_DAC_READ_SEARCH)) return results;
  const daemon = readDaemonRecord(stateDir);
  if (!daemonRunning(daemon) || !hasCapability(CAP_DAC_READ_SEARCH, daemon!.pid)) return results;
  return results.map((r) => (denied(r) ? { ...r, error: `${r.error}; ${CAPABILITY_HINT}` } : r));
}
