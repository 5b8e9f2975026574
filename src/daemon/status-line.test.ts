// The STATUS= lines systemctl shows, as the user asked for them.
import { describe, expect, test } from "bun:test";
import { formatSize } from "../config/units.ts";
import { clientStatusLine, clockTime, countResults, serverStatusLine } from "./status-line.ts";

// Local times, as systemctl shows them.
const at = (h: number, m: number, day = 26) => new Date(2026, 10, day, h, m, 0);
const now = at(12, 4);

describe("client line", () => {
  test("Up: since when, what the last tick did, when the next one runs", () => {
    const last = {
      at: at(12, 3).toISOString(),
      server: "up" as const,
      since: at(12, 0).toISOString(),
      results: [{ status: "sent" }, { status: "unchanged" }, { status: "sent" }, { status: "unchanged" }, { status: "sent" }],
    };
    expect(clientStatusLine(last, { next: at(12, 33) }, now)).toBe(
      "Server: Up since 12:00 | last tick 12:03: 3 sent, 2 unchanged | next 12:33",
    );
  });

  test("Down carries why; a transition yesterday shows its date", () => {
    const last = {
      at: at(12, 3).toISOString(),
      server: "down" as const,
      since: at(23, 55, 25).toISOString(),
      kind: "refused" as const,
      results: [{ status: "skipped" }, { status: "skipped" }],
    };
    expect(clientStatusLine(last, { next: at(12, 33) }, now)).toBe(
      "Server: Down since 2026-11-25 23:55 (refused) | last tick 12:03: 2 skipped | next 12:33",
    );
  });

  test("Down with a retry planned before the next tick: the retry shows between the last tick and the next", () => {
    const last = {
      at: at(17, 53).toISOString(),
      server: "down" as const,
      since: at(17, 53).toISOString(),
      kind: "refused" as const,
      results: [{ status: "skipped" }, { status: "skipped" }],
    };
    expect(clientStatusLine(last, { next: at(18, 53), retry: at(17, 55) }, at(17, 54))).toBe(
      "Server: Down since 17:53 (refused) | last tick 17:53: 2 skipped | retry 17:55 | next 18:53",
    );
    expect(clientStatusLine(last, { next: at(18, 53), retry: at(17, 55), runningSince: at(17, 55) }, at(17, 55))).toBe(
      "Server: Down since 17:53 (refused) | tick running since 17:55 | last tick 17:53: 2 skipped",
    );
  });

  test("Busy, never Down: while the tick waits its turn, and after a whole busy window without one", () => {
    const last = {
      at: at(3, 0).toISOString(),
      server: "up" as const,
      since: at(2, 0, 25).toISOString(),
      results: [{ status: "sent" }],
    };
    const waiting = { since: new Date(2026, 10, 26, 3, 0, 2), retry: new Date(2026, 10, 26, 3, 0, 14) };
    expect(clientStatusLine(last, { next: null, runningSince: at(3, 0), busy: waiting }, at(3, 0))).toBe(
      "Server: Busy, queued since 03:00:02, next try 03:00:14 | tick running since 03:00 | last tick 03:00: 1 sent",
    );
    const noTurn = {
      ...last,
      server: "down" as const,
      since: at(3, 0).toISOString(),
      kind: "busy" as const,
      results: [{ status: "skipped" }],
    };
    expect(clientStatusLine(noTurn, { next: at(3, 0, 27) }, at(4, 0))).toBe(
      "Server: Busy since 03:00 (no turn within the busy window) | last tick 03:00: 1 skipped | next 2026-11-27 03:00",
    );
  });

  test("before any tick, and while a tick runs", () => {
    expect(clientStatusLine(null, { next: at(12, 30) }, now)).toBe("Server: not probed yet | next 12:30");
    const last = {
      at: at(11, 33).toISOString(),
      server: "up" as const,
      since: at(9, 0).toISOString(),
      results: [{ status: "failed" }, { status: "sent" }],
    };
    expect(clientStatusLine(last, { next: at(12, 33), runningSince: at(12, 3) }, now)).toBe(
      "Server: Up since 09:00 | tick running since 12:03 | last tick 11:33: 1 sent, 1 failed",
    );
  });

  test("countResults orders sent, unchanged, skipped, failed", () => {
    expect(countResults([{ status: "failed" }, { status: "skipped" }, { status: "unchanged" }, { status: "sent" }])).toBe(
      "1 sent, 1 unchanged, 1 skipped, 1 failed",
    );
    expect(countResults([])).toBe("no sources");
  });
});

describe("server line", () => {
  test("clients served, the latest archive, free space", () => {
    const line = serverStatusLine(
      {
        clients: 14,
        connected: 0,
        lastArchive: { storedAt: at(12, 3).toISOString(), client: "web01", name: "etc" },
        freeBytes: 1.2 * 2 ** 40,
      },
      now,
    );
    expect(line).toBe("Serving 14 clients | last archive 12:03 web01/etc | 1.2 TiB free");
  });

  test("a full server says how many clients wait their turn", () => {
    expect(serverStatusLine({ clients: 500, connected: 64, waiting: 230, lastArchive: null, freeBytes: null }, now)).toBe(
      "Serving 500 clients (64 connected, 230 waiting their turn) | no archive yet | free space unknown",
    );
  });

  test("one client connected, nothing stored yet, free space unknown", () => {
    expect(serverStatusLine({ clients: 1, connected: 1, lastArchive: null, freeBytes: null }, now)).toBe(
      "Serving 1 client (1 connected) | no archive yet | free space unknown",
    );
  });

  test("formatSize and clockTime", () => {
    expect([formatSize(0), formatSize(1023), formatSize(1536), formatSize(512 * 2 ** 20), formatSize(2 ** 50 * 3)]).toEqual([
      "0 B",
      "1023 B",
      "1.5 KiB",
      "512 MiB",
      "3.0 PiB",
    ]);
    expect(clockTime(at(7, 5), now)).toBe("07:05");
  });
});
