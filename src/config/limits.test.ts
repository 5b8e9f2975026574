import { describe, expect, test } from "bun:test";
import { formatIssue, parseConfig } from "./parse-config.ts";

const FILE = "/etc/hashrelay/hashrelay.yaml";
const K1 = `"ed25519:${"A".repeat(43)}="`;

function server(limits: string[]): string {
  return ["version: 1", "server:", "  key: ./server.key", ...limits, "  clients:", "    - name: web01", `      key: ${K1}`, ""].join("\n");
}

function issues(text: string): string[] {
  const result = parseConfig(text, FILE);
  return result.ok ? [] : result.issues.map(formatIssue);
}

describe("server.limits", () => {
  test("defaults: 64 sessions, 10 s handshake, 60 s idle, streams one per core (null)", () => {
    const result = parseConfig(server([]), FILE);
    expect(result.ok && result.config.server!.limits).toEqual({
      maxConnections: 64,
      handshakeTimeoutMs: 10_000,
      idleTimeoutMs: 60_000,
      streams: null,
    });
  });

  test("values are read as written; streams 0 turns chunk streams off", () => {
    const result = parseConfig(
      server(["  limits:", "    maxConnections: 8", "    handshakeTimeout: 3s", "    idleTimeout: 5m", "    streams: 0"]),
      FILE,
    );
    expect(result.ok && result.config.server!.limits).toEqual({
      maxConnections: 8,
      handshakeTimeoutMs: 3_000,
      idleTimeoutMs: 300_000,
      streams: 0,
    });
  });

  test("a negative or fractional streams count is refused, naming the key and what to give", () => {
    expect(issues(server(["  limits:", "    streams: -1"]))).toEqual([
      `${FILE}:5:14: server.limits.streams: -1 is out of range 0-1024 (give the number of uploads that may stream at once, e.g. 2, or 0 for none)`,
    ]);
    expect(issues(server(["  limits:", "    streams: 1.5"]))).toHaveLength(1);
  });

  test("an idle timeout under 40 s is refused: clients speak every 30 s at the least", () => {
    expect(issues(server(["  limits:", "    idleTimeout: 30s"]))).toEqual([
      `${FILE}:5:18: server.limits.idleTimeout: 30s is shorter than 40s (use a duration of at least 40s, e.g. 60s: clients speak at least every 30 s)`,
    ]);
  });

  test("a zero handshake timeout, a bad duration, zero connections and unknown keys are refused", () => {
    const found = issues(
      server(["  limits:", "    handshakeTimeout: 0s", "    maxConnections: 0", "    idleTimeout: 1 minute", "    maxSessions: 3"]),
    );
    expect(found).toEqual([
      `${FILE}:5:23: server.limits.handshakeTimeout: 0s is too short (give the handshake at least 1s, e.g. 10s)`,
      `${FILE}:6:21: server.limits.maxConnections: 0 is out of range 1-65536 (give the number of sessions open at once, e.g. 64)`,
      `${FILE}:7:18: server.limits.idleTimeout: "1 minute" is not a duration (use a duration like 30s, 15m, 48h or 7d)`,
      `${FILE}:8:5: server.limits.maxSessions: unknown key "maxSessions" (allowed keys here: maxConnections, handshakeTimeout, idleTimeout, streams)`,
    ]);
  });
});
