// The refusal log: a flood costs a few lines per interval, each with its address, cause and count.
import { describe, expect, test } from "bun:test";
import type { Level, LogFields } from "../io/log.ts";
import { RefusalLog } from "./refusal-log.ts";

function recorder() {
  const lines: { level: Level; message: string; fields?: LogFields }[] = [];
  return { lines, log: { log: (level: Level, message: string, fields?: LogFields) => lines.push({ level, message, fields }) } };
}

describe("refusal log", () => {
  test("the first refusal of each cause from an address is logged at once with its detail; the rest are summed per interval", () => {
    const { lines, log } = recorder();
    const refusals = new RefusalLog(log, "60 s");
    for (let i = 0; i < 10_000; i++) refusals.refused(`127.0.0.1:${30_000 + (i % 20_000)}`, "127.0.0.1", "evicted", "no HELLO yet");
    refusals.refused("127.0.0.1:40001", "127.0.0.1", "unauthorized", "unknown client key ed25519:AAAA");
    refusals.refused("127.0.0.1:40002", "127.0.0.1", "unauthorized", "unknown client key ed25519:BBBB");
    refusals.refused("192.0.2.4:5000", "192.0.2.4", "busy", "server busy: 64 sessions open");
    expect(lines.map((l) => `${l.level} ${l.message}`)).toEqual([
      "warn handshake from 127.0.0.1:30000 refused: evicted: no HELLO yet",
      "warn handshake from 127.0.0.1:40001 refused: unauthorized: unknown client key ed25519:AAAA",
      "info handshake from 192.0.2.4:5000 refused: busy: server busy: 64 sessions open",
    ]);
    expect(lines[0]!.fields).toEqual({ peer: "127.0.0.1:30000", cause: "evicted" });
    refusals.flush();
    expect(lines.slice(3).map((l) => `${l.level} ${l.message}`)).toEqual([
      "warn refused 10000 more connections from 127.0.0.1 in the last 60 s: 9999 evicted, 1 unauthorized",
    ]);
    // a new interval: the next one is logged at once again
    refusals.refused("127.0.0.1:40003", "127.0.0.1", "evicted", "no HELLO yet");
    expect(lines).toHaveLength(5);
    refusals.flush();
    expect(lines).toHaveLength(5);
  });

  test("a flood from many addresses: past 32 addresses one line sums the others", () => {
    const { lines, log } = recorder();
    const refusals = new RefusalLog(log, "60 s");
    for (let a = 0; a < 1000; a++)
      for (let i = 0; i < 5; i++) refusals.refused(`10.0.${a >> 8}.${a & 255}:1`, `10.0.${a >> 8}.${a & 255}`, "hello-timeout", "silent");
    expect(lines).toHaveLength(32);
    refusals.flush();
    expect(lines).toHaveLength(65);
    expect(lines.at(-1)!.message).toBe("refused 4840 more connections from 968 other addresses in the last 60 s: 4840 hello-timeout");
  });
});
