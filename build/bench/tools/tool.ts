// What the bench asks of each tool under test: one measured backup run (or restore), and the folders a run changes.
import type { LinkShape } from "../link-shaper.ts";

export interface RunMeasure {
  /** Bytes from client to server: counted by the proxy, or the repository's growth for restic (see bytesMethod). */
  bytesClientToServer: number;
  bytesServerToClient: number | null;
  bytesMethod: "proxy" | "repository growth";
  wallMs: number;
  clientRssKiB: number | null;
  serverRssKiB: number | null;
  /** hashrelay with its storage on a loop file system (--server-fs): what the run cost the server's storage. */
  storage?: StorageCost;
  /** Tool-specific facts for the record (never used for the tables' bytes): the tool's own report, archive size... */
  notes: Record<string, string | number>;
}

/** What one run cost the server's storage (issue 16: the NAS writes only what changed). */
export interface StorageCost {
  /** The file system the storage was on ("xfs", "ext4"...). */
  fs: string;
  /** The server process's write_bytes over the run (/proc/PID/io): bytes it sent to the storage layer; a clone counts none. */
  written: number;
  /** Its read_bytes: bytes it fetched from the disk (not from the page cache). */
  read: number;
  /** The file system's used bytes after the run minus before (after sync): everything kept, the trash included. */
  growth: number;
}

export interface BenchTool {
  readonly name: string;
  /** How the client and the server were run, for RESULTS.md. */
  readonly describe: string;
  /** Every folder a run changes (destination, client state, caches): saved before a scenario, restored between repeats. */
  readonly stateDirs: string[];
  /** One backup of the tree as it is now. Throws with the tool's output if the backup failed. */
  run(): Promise<RunMeasure>;
  /**
   * Scenario R: restores the newest backup into the empty folder `into` (`archive`: hashrelay's stored
   * archive file, which tar extracts, when hashrelay ran). Absent: the tool has no restore here. Throws with the tool's output.
   */
  restore?(into: string, archive: string | null): Promise<RunMeasure>;
  /** The archive file the newest backup stored, for a tool that keeps one (hashrelay). */
  storedArchive?(): string | null;
  close(): Promise<void>;
}

export interface ToolSetup {
  /** This tool's own folder under build/bench/work (created by the tool). */
  work: string;
  /** The tree to back up (absolute path). */
  tree: string;
  /** The link the proxy puts between client and server (--wan), or none: loopback. */
  link?: LinkShape;
}

/** A restore run's measure (scenario R): `bytes` from the proxy when the restore went over the network, else none. */
export function restoreMeasure(
  run: { wallMs: number; maxRssKiB: number | null },
  bytes: { clientToServer: number; serverToClient: number } | null,
  notes: Record<string, string | number>,
  serverRssKiB: number | null = null,
): RunMeasure {
  return {
    bytesClientToServer: bytes?.clientToServer ?? 0,
    bytesServerToClient: bytes?.serverToClient ?? null,
    bytesMethod: "proxy",
    wallMs: run.wallMs,
    clientRssKiB: run.maxRssKiB,
    serverRssKiB,
    notes,
  };
}

/** Throws an Error carrying the tool's output when a run failed. */
export function checkExit(
  tool: string,
  run: { code: number | null; signal: string | null; stdout: string; stderr: string },
  ok: number[] = [0],
): void {
  if (run.code !== null && ok.includes(run.code)) return;
  throw new Error(`${tool} failed (exit ${run.code ?? run.signal}):\n${run.stdout.slice(-4000)}\n${run.stderr.slice(-4000)}`);
}
