// Waiting one's turn at a busy server: try again when the server says (with jitter), until the tick's busy window ends.
import { HashRelayError } from "../errors.ts";
import { ServerBusy } from "../protocol/handshake.ts";
import type { Logger } from "../io/log.ts";

/** Without the server's hint (a server that predates it): 1 s, doubling up to a minute. */
const NO_HINT = { firstMs: 1_000, maxMs: 60_000 } as const;
/** The wait is the hint stretched by up to this share, so that clients told alike do not come back alike. */
const JITTER = 0.2;
/**
 * A handshake that times out or is cut once connected is tried once more, this long after: a server
 * (or this machine) under load may answer late. A second silence is the server's answer.
 */
const LATE_RETRY_MS = 1_000;

/** How a tick waits at a busy server. */
export interface BusyWindow {
  /** No try starts after this (ms since the epoch): client.busyWindow from the tick's start, else the next scheduled tick. */
  until: number;
  /** Ends the wait at once (the daemon stops): the last BUSY is thrown. */
  signal?: AbortSignal;
  /** Told before each wait: when the tick tries again, and since when it has been waiting. */
  onWait?: (retryAt: Date, since: Date) => void;
  /** Draws from [0, 1) (default Math.random). */
  random?: () => number;
}

/** The wait after the `attempt`-th BUSY (1, 2, …): the server's hint stretched by up to JITTER, or 1 s doubling without one. */
export function busyDelayMs(retryAfterMs: number | null, attempt: number, random: number): number {
  const base = retryAfterMs ?? Math.min(NO_HINT.maxMs, NO_HINT.firstMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (1 + JITTER * random));
}

/**
 * Runs `open` until it is not refused BUSY (and once more after a handshake that timed out or was cut).
 * Throws what `open` throws otherwise, and the last refusal when the next try would start after the
 * window or the wait is stopped. Logs the first BUSY and, when it got in after waiting, how long it
 * waited: nothing per retry.
 */
export async function openWhenAdmitted<T>(open: () => Promise<T>, window: BusyWindow, log: Logger): Promise<T> {
  const since = new Date();
  const random = window.random ?? Math.random;
  let lateTries = 1;
  let busy = 0;
  for (;;) {
    try {
      const opened = await open();
      if (busy > 0)
        log.log("info", `the server let this client in after ${busy} BUSY (${Math.round((Date.now() - since.getTime()) / 1000)} s)`);
      return opened;
    } catch (err) {
      const late = err instanceof HashRelayError && (err.code === "TIMEOUT" || err.code === "CLOSED") && lateTries-- > 0;
      if (!(err instanceof ServerBusy) && !late) throw err;
      if (err instanceof ServerBusy) busy++;
      const hint = err instanceof ServerBusy ? err.retryAfterMs : LATE_RETRY_MS;
      const retryAt = Date.now() + busyDelayMs(hint, busy, random());
      if (retryAt > Math.max(window.until, late ? Date.now() + 2 * LATE_RETRY_MS : 0) || window.signal?.aborted) throw err;
      if (late) log.log("info", `the server did not finish the handshake (${(err as Error).message}); trying once more`);
      else if (busy === 1)
        log.log("info", `${(err as Error).message}; waiting for a turn until ${new Date(window.until).toISOString()} at the latest`, {
          server: "busy",
        });
      if (!late) window.onWait?.(new Date(retryAt), since);
      if (!(await sleepUntil(retryAt, window.signal))) throw err;
    }
  }
}

/** Resolves true at `at`, or false as soon as `signal` aborts. */
function sleepUntil(at: number, signal: AbortSignal | undefined): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(
      () => {
        signal?.removeEventListener("abort", onAbort);
        resolve(true);
      },
      Math.max(0, at - Date.now()),
    );
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
