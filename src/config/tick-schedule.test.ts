import { describe, expect, test } from "bun:test";
import { parseSchedule } from "./schedule.ts";
import { describeTickSchedule, firstScheduledTick, nextScheduledTick, splayOffsetMs, tickSchedule } from "./tick-schedule.ts";

const K1 = "ed25519:iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w=";
const K2 = "ed25519:gTl3Dqh9F19Wo1Rmw0x+zMuNipG07jeiXfYPW4/Js5Q=";
const MIN = 60_000;
const at = (iso: string): number => Date.parse(iso);

function client(schedule: string, splayMs = 0, timezone: string | null = null, name = "web01") {
  return { schedule: parseSchedule(schedule)!, timezone, splayMs, name, serverKeyText: K1 };
}

describe("splay offset", () => {
  test("fixed per client: the same name and server key give the same offset, in whole seconds below the splay", () => {
    const offset = splayOffsetMs(15 * MIN, "web01", K1);
    expect(splayOffsetMs(15 * MIN, "web01", K1)).toBe(offset);
    expect(offset % 1000).toBe(0);
    expect(offset).toBeGreaterThanOrEqual(0);
    expect(offset).toBeLessThan(15 * MIN);
    // Another server's key draws another offset for the same name.
    expect(splayOffsetMs(15 * MIN, "web01", K2)).not.toBe(offset);
  });

  test("no splay, or less than a second, is no offset", () => {
    expect(splayOffsetMs(0, "web01", K1)).toBe(0);
    expect(splayOffsetMs(999, "web01", K1)).toBe(0);
  });

  test("500 clients of one server spread over the whole splay", () => {
    const offsets = Array.from({ length: 500 }, (_, i) => splayOffsetMs(15 * MIN, `host-${i}`, K1));
    const perThird = [0, 1, 2].map((k) => offsets.filter((o) => o >= k * 5 * MIN && o < (k + 1) * 5 * MIN).length);
    // 500 / 3 ≈ 167 each; a fair draw stays well inside 120-215.
    for (const n of perThird) expect(n).toBeGreaterThan(120);
    expect(perThird.reduce((a, b) => a + b, 0)).toBe(500);
    // Hardly two clients in the same second: at most a few collisions among 900 seconds.
    expect(new Set(offsets).size).toBeGreaterThan(330);
  });
});

describe("tick schedule", () => {
  test("client.timezone wins over the machine's zone", () => {
    expect(tickSchedule(client("0 3 * * *"), "Asia/Tokyo")).toMatchObject({ zone: "Asia/Tokyo", zoneIsMachine: true, offsetMs: 0 });
    expect(tickSchedule(client("0 3 * * *", 0, "Europe/Paris"), "Asia/Tokyo")).toMatchObject({
      zone: "Europe/Paris",
      zoneIsMachine: false,
    });
  });

  test("cron: each scheduled time on the zone's wall clock, late by the offset", () => {
    const ts = tickSchedule(client("0 3 * * *", 15 * MIN), "Europe/Paris");
    const first = firstScheduledTick(ts, at("2026-01-10T12:00:00Z"));
    expect(first).toBe(at("2026-01-11T02:00:00Z") + ts.offsetMs);
    expect(nextScheduledTick(ts, first)).toBe(at("2026-01-12T02:00:00Z") + ts.offsetMs);
  });

  test("every: the first tick at start, late by the offset", () => {
    const ts = tickSchedule(client("every 1h", 15 * MIN), "UTC");
    expect(firstScheduledTick(ts, 1_000_000)).toBe(1_000_000 + ts.offsetMs);
    expect(nextScheduledTick(ts, 5_000_000)).toBe(5_000_000 + 3_600_000);
  });

  test("described for logs and status", () => {
    const ts = tickSchedule(client("0 3 * * *", 15 * MIN), "Europe/Paris");
    expect(describeTickSchedule(ts, "0 3 * * *")).toMatch(
      /^0 3 \* \* \* in Europe\/Paris \(the machine's zone\), splay 15m \(this client \+(\d+m)?(\d+s)?\)$/,
    );
    expect(describeTickSchedule({ ...ts, offsetMs: 432_000 }, "0 3 * * *")).toContain("(this client +7m12s)");
    expect(describeTickSchedule(tickSchedule(client("0 3 * * *", 0, "UTC"), "Europe/Paris"), "0 3 * * *")).toBe("0 3 * * * in UTC");
    expect(describeTickSchedule(tickSchedule(client("every 30m"), "Europe/Paris"), "every 30m")).toBe("every 30m");
  });
});
