// `hashrelay backup-now`: asks the running client daemon for a tick now and waits for that tick's record.
import { HashRelayError } from "../errors.ts";
import { daemonRunning } from "../daemon/daemon-status.ts";
import { watchFile } from "../io/file-watch.ts";
import { readDaemonRecord, TICK_NOW_SIGNAL } from "./service.ts";
import { ClientState, type TickRecord } from "./state.ts";

/** How often the daemon is checked to be still alive while its tick runs (the result itself comes by the file watch). */
const ALIVE_CHECK_MS = 1000;

/**
 * Signals the client daemon of the state folder `stateDir` and resolves with the record of the first tick
 * that daemon starts after the request (a tick in flight when it arrives is not it: the daemon runs
 * another). `onAsked` is told the daemon's pid once signalled. Throws USAGE when no daemon runs, when it
 * cannot be signalled (another user, not root), or when it stops before recording the tick.
 */
export async function tickThroughDaemon(stateDir: string, onAsked: (pid: number) => void): Promise<TickRecord> {
  const daemon = readDaemonRecord(stateDir);
  if (!daemonRunning(daemon)) {
    throw new HashRelayError(
      "USAGE",
      `no client daemon runs for the state folder ${stateDir}`,
      "start the service: systemctl start HashRelay.client; or back up in this process: hashrelay client --once",
    );
  }
  const { pid } = daemon!;
  // Watch first, then ask: the record cannot land unseen between the two.
  const tick = nextTickOf(stateDir, pid, Date.now());
  try {
    process.kill(pid, TICK_NOW_SIGNAL);
  } catch (err) {
    tick.cancel();
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new HashRelayError(
      "USAGE",
      `cannot signal the client daemon (pid ${pid}): ${code}`,
      "run as root (sudo hashrelay backup-now) or as the service user",
    );
  }
  onAsked(pid);
  return tick.record;
}

/**
 * Resolves with the record the daemon `pid` writes for the first tick it starts at or after `askedAt`,
 * seen by a watch on state/status.json; rejects USAGE when that daemon stops first. `cancel` ends the wait
 * (the promise then never settles).
 */
function nextTickOf(stateDir: string, pid: number, askedAt: number): { record: Promise<TickRecord>; cancel: () => void } {
  const state = new ClientState(stateDir);
  let cancel: () => void = () => undefined;
  const record = new Promise<TickRecord>((resolve, reject) => {
    const check = () => {
      const last = state.lastTick();
      if (last?.pid === pid && last.startedAt !== undefined && Date.parse(last.startedAt) >= askedAt) {
        cancel();
        resolve(last);
        return;
      }
      const now = readDaemonRecord(stateDir);
      if (now?.pid === pid && daemonRunning(now)) return;
      cancel();
      reject(
        new HashRelayError("USAGE", `the client daemon (pid ${pid}) stopped before its tick ended`, "see: journalctl -u HashRelay.client"),
      );
    };
    const watch = watchFile(state.tickFile, check, { debounceMs: 20 });
    const alive = setInterval(check, ALIVE_CHECK_MS);
    cancel = () => {
      watch.close();
      clearInterval(alive);
    };
  });
  return { record, cancel };
}
