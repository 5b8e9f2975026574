// Probe-viewer memory: down reasons by kind, and Up/Down transitions logged once across ticks.
import { describe, expect, test } from "bun:test";
import { HashRelayError } from "../errors.ts";
import type { Level, Logger } from "../io/log.ts";
import { availabilityOf, classifyDown, ServerWatch } from "./server-availability.ts";

describe("classifyDown", () => {
  test("each failure gets its own kind and a reason that says what happened", () => {
    const cases: [HashRelayError, string, string][] = [
      [new HashRelayError("SERVER_DOWN", "connection refused (192.0.2.10:7373)"), "refused", "connection refused (192.0.2.10:7373)"],
      [new HashRelayError("SERVER_DOWN", "timeout connecting to 192.0.2.10:7373"), "timeout", "timeout connecting to 192.0.2.10:7373"],
      [
        new HashRelayError("TIMEOUT", "peer 192.0.2.10:7373 silent for 10 s"),
        "timeout",
        "timeout: server 192.0.2.10:7373 silent for 10 s (it accepted the connection but did not answer)",
      ],
      [new HashRelayError("UNAUTHORIZED", "server key does not match"), "unauthorized", "unauthorized: server key does not match"],
      [new HashRelayError("SERVER_DOWN", "host not found (nas.lan:7373)"), "unreachable", "host not found (nas.lan:7373)"],
      [new HashRelayError("CLOSED", "connection closed by peer"), "closed", "closed: connection closed by peer"],
      [new HashRelayError("BUSY", "peer refused: server busy"), "busy", "busy: peer refused: server busy"],
    ];
    for (const [error, kind, reason] of cases) expect(classifyDown(error)).toEqual({ kind: kind as never, reason });
  });
});

describe("ServerWatch", () => {
  function recorder() {
    const lines: string[] = [];
    const log: Logger = { log: (level: Level, message: string) => lines.push(`${level} ${message}`) };
    return { lines, log };
  }
  let clock = Date.parse("2026-11-26T12:00:00Z");
  const now = () => new Date(clock);

  test("down, down, down, up, up: two lines; since moves only on a change", () => {
    const { lines, log } = recorder();
    let state = null as ReturnType<typeof availabilityOf>;
    const tick = (f: (w: ServerWatch) => void) => {
      const w = new ServerWatch(state, log, now, "nas:7373");
      f(w);
      state = w.current;
      clock += 60_000;
    };
    tick((w) => w.down("refused", "connection refused"));
    tick((w) => w.down("refused", "connection refused"));
    tick((w) => w.down("timeout", "timeout: x"));
    expect(state).toEqual({
      server: "down",
      address: "nas:7373",
      since: "2026-11-26T12:00:00.000Z",
      kind: "timeout",
      reason: "timeout: x",
    });
    tick((w) => {
      w.up();
      w.up();
    });
    tick((w) => w.up());
    expect(state).toEqual({ server: "up", address: "nas:7373", since: "2026-11-26T12:03:00.000Z" });
    expect(lines).toEqual([
      "warn server nas:7373 is Down: connection refused",
      "info server nas:7373 is Up (was Down since 2026-11-26T12:00:00.000Z)",
    ]);
  });

  test("Up before a tick and Down after it: both changes logged, the record says Down since then", () => {
    const { lines, log } = recorder();
    const w = new ServerWatch({ server: "up", since: "2026-11-26T11:00:00.000Z" }, log, now, "nas:7373");
    w.up();
    w.down("closed", "closed: connection closed by peer");
    expect(lines).toEqual([`warn server nas:7373 is Down: closed: connection closed by peer (was Up since 2026-11-26T11:00:00.000Z)`]);
    expect(w.current?.since).toBe(now().toISOString());
  });

  test("availabilityOf: a record from before 'since' existed counts from its tick time", () => {
    expect(availabilityOf({ at: "2026-11-26T10:00:00.000Z", server: "down", reason: "r" })).toEqual({
      server: "down",
      address: undefined,
      since: "2026-11-26T10:00:00.000Z",
      kind: undefined,
      reason: "r",
    });
    expect(availabilityOf(null)).toBeNull();
  });

  test("a record about another address (the config moved the client) starts afresh: the new server's state is logged", () => {
    const { lines, log } = recorder();
    const w = new ServerWatch({ server: "up", address: "old-nas:7373", since: "2026-11-26T09:00:00.000Z" }, log, now, "new-nas:7373");
    w.up();
    expect(lines).toEqual(["info server new-nas:7373 is Up"]);
    expect(w.current).toEqual({ server: "up", address: "new-nas:7373", since: now().toISOString() });
  });
});
