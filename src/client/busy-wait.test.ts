// Waiting at a busy server: the server's hint is honoured with jitter, the window and a stop end the wait, other errors pass.
import { describe, expect, test } from "bun:test";
import { HashRelayError } from "../errors.ts";
import { ServerBusy } from "../protocol/handshake.ts";
import type { Level } from "../io/log.ts";
import { busyDelayMs, openWhenAdmitted } from "./busy-wait.ts";

function recorder() {
  const lines: string[] = [];
  return { lines, log: { log: (level: Level, message: string) => lines.push(`${level} ${message}`) } };
}

/** An `open` refused BUSY (hint `hintMs`) `times` times, then giving "session". */
function busyTimes(times: number, hintMs: number | null) {
  let calls = 0;
  return {
    calls: () => calls,
    open: async () => {
      calls++;
      if (calls <= times) throw new ServerBusy("server refused the handshake: server busy: 1 sessions open", hintMs);
      return "session";
    },
  };
}

describe("busy wait", () => {
  test("the wait is the server's hint stretched by up to a fifth; without a hint 1 s doubling to a minute", () => {
    expect(busyDelayMs(1000, 1, 0)).toBe(1000);
    expect(busyDelayMs(1000, 7, 0.999)).toBe(1200);
    expect([1, 2, 3, 7, 8, 20].map((n) => busyDelayMs(null, n, 0))).toEqual([1000, 2000, 4000, 60_000, 60_000, 60_000]);
  });

  test("tries again after each hint until let in; logs the first BUSY and the admission, nothing per retry", async () => {
    const { lines, log } = recorder();
    const server = busyTimes(3, 5);
    const waits: number[] = [];
    const opened = await openWhenAdmitted(
      server.open,
      { until: Date.now() + 60_000, onWait: (retryAt) => waits.push(retryAt.getTime() - Date.now()), random: () => 0.5 },
      log,
    );
    expect(opened).toBe("session");
    expect(server.calls()).toBe(4);
    expect(waits).toHaveLength(3);
    for (const w of waits) expect(w).toBeGreaterThanOrEqual(4); // 5 ms × 1.1, less the time since
    expect(lines).toHaveLength(2);
    expect(lines[0]).toStartWith("info server refused the handshake: server busy: 1 sessions open; waiting for a turn until ");
    expect(lines[1]).toMatch(/^info the server let this client in after 3 BUSY \(\d+ s\)$/);
  });

  test("a next try that would start after the window ends the wait with the BUSY", async () => {
    const server = busyTimes(100, 50);
    const err = await openWhenAdmitted(server.open, { until: Date.now() + 120 }, recorder().log).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServerBusy);
    expect(server.calls()).toBeGreaterThanOrEqual(2);
    expect(server.calls()).toBeLessThanOrEqual(3);
  });

  test("no window (now): the first BUSY is thrown at once", async () => {
    const server = busyTimes(1, 5);
    expect(await openWhenAdmitted(server.open, { until: Date.now() }, recorder().log).catch((e: unknown) => e)).toBeInstanceOf(ServerBusy);
    expect(server.calls()).toBe(1);
  });

  test("a stop ends the wait at once", async () => {
    const stop = new AbortController();
    const server = busyTimes(100, 60_000);
    const waiting = openWhenAdmitted(
      server.open,
      { until: Date.now() + 3_600_000, signal: stop.signal, onWait: () => stop.abort() },
      recorder().log,
    );
    expect(await waiting.catch((e: unknown) => e)).toBeInstanceOf(ServerBusy);
    expect(server.calls()).toBe(1);
  });

  test("a handshake that timed out or was cut is tried twice more, 1 s then 2 s later; a third silence is thrown", async () => {
    for (const code of ["TIMEOUT", "CLOSED"] as const) {
      let calls = 0;
      const lateOnce = async () => {
        if (++calls === 1) throw new HashRelayError(code, "server 127.0.0.1:7373 silent for 10 s");
        return "session";
      };
      const { lines, log } = recorder();
      expect(await openWhenAdmitted(lateOnce, { until: Date.now() }, log)).toBe("session");
      expect(calls).toBe(2);
      expect(lines).toEqual([`info the server did not finish the handshake (server 127.0.0.1:7373 silent for 10 s); trying again`]);
      let silent = 0;
      const alwaysLate = async () => {
        silent++;
        throw new HashRelayError(code, "silent");
      };
      expect(await openWhenAdmitted(alwaysLate, { until: Date.now() + 60_000 }, recorder().log).catch((e: HashRelayError) => e.code)).toBe(
        code,
      );
      expect(silent).toBe(3);
    }
  }, 20_000);

  test("any other error is thrown at once", async () => {
    let calls = 0;
    const open = async () => {
      calls++;
      throw new HashRelayError("SERVER_DOWN", "connection refused");
    };
    expect(await openWhenAdmitted(open, { until: Date.now() + 60_000 }, recorder().log).catch((e: HashRelayError) => e.code)).toBe(
      "SERVER_DOWN",
    );
    expect(calls).toBe(1);
  });
});
