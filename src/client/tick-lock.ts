// One tick at a time per state folder: the daemon and every `client --once` take the folder's lock for their tick.
import { asHashRelayError } from "../errors.ts";
import { folderLockHolder, tryLockFolder, type FolderLock } from "../io/folder-lock.ts";
import { hashrelayRuns } from "../daemon/daemon-status.ts";
import type { Logger } from "../io/log.ts";
import { readDaemonRecord } from "./service.ts";

/** How often a waiting tick tries the lock again (a held lock is freed when its tick records its result). */
const RETRY_MS = 250;

/**
 * Waits until this process holds the lock of the state folder `stateDir`, and resolves with it; null when
 * `signal` aborted the wait (the daemon stopping). `log` is told once whose tick it waits for. A crashed
 * holder frees it (the kernel drops the lock with the process). Where no lock can be taken at all, `log`
 * says so and the tick runs unlocked: a backup beats a lock. Two ticks on one state folder would write
 * the same source records and status, and offer the same names to the server at once. Never throws.
 */
export async function lockForTick(stateDir: string, log: Logger, signal?: AbortSignal): Promise<FolderLock | null> {
  let told = false;
  while (!signal?.aborted) {
    let lock: FolderLock | null;
    try {
      lock = tryLockFolder(stateDir);
    } catch (err) {
      log.log("warn", `cannot lock ${stateDir}: ${asHashRelayError(err).message}; this tick runs without the lock`);
      return { release: () => undefined };
    }
    if (lock) return lock;
    if (!told) log.log("info", `another tick runs on ${stateDir} (${lockHolder(stateDir)}): waiting for it to end`);
    told = true;
    await pause(RETRY_MS, signal);
  }
  return null;
}

/** "pid 812, the client daemon", "pid 4410", or "another process" when /proc cannot tell. */
function lockHolder(stateDir: string): string {
  const pid = folderLockHolder(stateDir);
  if (pid === null) return "another process";
  const daemon = readDaemonRecord(stateDir);
  return daemon?.pid === pid && hashrelayRuns(pid) ? `pid ${pid}, the client daemon` : `pid ${pid}`;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
