// Waiting one's turn at a busy server: try again when the server says (with jitter), until the tick's busy window ends.
import { HashRelayError } from "../errors.ts";
import { ServerBusy } from "../protocol/handshake.ts";
import type { Logger } from "../io/log.ts";

/** Without the server's hint (a server that predates it): 1 s, doubling up to a minute. */
const NO_HINT = { firstMs: 1_000, maxMs: 60_000 } as const;
/** The wait is the hint stretched by up to this share, so that clients told alike do not come back alike. */
const JITTER = 0.2;
/**
 * A handshake that times out or is cut once connected is tried again, up to LATE.tries times, 1 s
 * then 2 s after: a server (or this machine) under load may answer late. The next silence is the
 * server's answer: a mute server is Down after three handshake timeouts.
 */
const LATE = { tries: 2, firstMs: 1_000 } as const;

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
 * Runs `open` until it is not refused BUSY, and up to LATE.tries more times after a handshake that timed
 * out or was cut. Throws what `open` throws otherwise, and the last refusal when the next turn would
 * come after the window or the wait is stopped. Logs the first BUSY, each late try, and how long it
 * waited once let in: nothing per BUSY.
 */
export async function openWhenAdmitted<T>(open: () => Promise<T>, window: BusyWindow, log: Logger): Promise<T> {
  const since = new Date();
  const random = window.random ?? Math.random;
  const tries = { busy: 0, late: 0 };
  for (;;) {
    try {
      const opened = await open();
      if (tries.busy > 0)
        log.log("info", `the server let this client in after ${tries.busy} BUSY (${Math.round((Date.now() - since.getTime()) / 1000)} s)`);
      return opened;
    } catch (err) {
      const next = nextTry(err, tries, random());
      const retryAt = Date.now() + (next?.delayMs ?? 0);
      // A late handshake is tried again even past the busy window: the window is for waiting one's turn.
      if (!next || (next.busy && retryAt > window.until) || window.signal?.aborted) throw err;
      const message = (err as Error).message;
      if (!next.busy) log.log("info", `the server did not finish the handshake (${message}); trying again`);
      else if (tries.busy === 1)
        log.log("info", `${message}; waiting for a turn until ${new Date(window.until).toISOString()} at the latest`, { server: "busy" });
      if (next.busy) window.onWait?.(new Date(retryAt), since);
      if (!(await sleepUntil(retryAt, window.signal))) throw err;
    }
  }
}

/** After `err`: the wait before the next try (counted in `tries`), or null when `err` is the answer. */
function nextTry(err: unknown, tries: { busy: number; late: number }, random: number): { busy: boolean; delayMs: number } | null {
  if (err instanceof ServerBusy) return { busy: true, delayMs: busyDelayMs(err.retryAfterMs, ++tries.busy, random) };
  const late = err instanceof HashRelayError && (err.code === "TIMEOUT" || err.code === "CLOSED");
  if (!late || tries.late >= LATE.tries) return null;
  return { busy: false, delayMs: busyDelayMs(LATE.firstMs * 2 ** tries.late++, 1, random) };
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
