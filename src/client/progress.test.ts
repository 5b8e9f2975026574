// The --once progress display: bars redrawn in place on a terminal, two plain lines per source elsewhere.
import { describe, expect, test } from "bun:test";
import { barLine, createProgress, formatEta } from "./progress.ts";

const MiB = 1024 * 1024;

function fakeClock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe("barLine", () => {
  test("percent, bytes hashed and sent, rate and ETA come from the numbers, not from the code", () => {
    // 25 MiB of 100 MiB hashed in 5 s: 5 MiB/s, 75 MiB left: 15 s
    const line = barLine({ name: "etc", totalBytes: 100 * MiB, bytesHashed: 25 * MiB, bytesSent: 3 * MiB }, 5000);
    expect(line).toBe(`etc          [${"#".repeat(6)}${"-".repeat(18)}] 25%  25 MiB hashed  3.0 MiB sent  5.0 MiB/s  ETA 0:15`);
  });

  test("never 100% while in flight, even when the estimate was low; cut to the terminal width", () => {
    expect(barLine({ name: "www", totalBytes: 10, bytesHashed: 50, bytesSent: 0 }, 1000)).toContain("] 99%");
    expect(barLine({ name: "www", totalBytes: 10, bytesHashed: 5, bytesSent: 0 }, 1000, 60)).toHaveLength(59);
    expect(barLine({ name: "www", totalBytes: 10, bytesHashed: 5, bytesSent: 0 }, 1000, 0).length).toBeGreaterThan(60);
  });

  test("formatEta", () => {
    expect([formatEta(7), formatEta(750), formatEta(3723)]).toEqual(["0:07", "12:30", "1:02:03"]);
  });
});

describe("createProgress", () => {
  test("off a terminal: one line when a source starts, one when it ends, no bar and no carriage return", () => {
    const clock = fakeClock();
    let out = "";
    const p = createProgress({ tty: false, write: (s) => (out += s), now: clock.now });
    p.sourceStarted("etc");
    for (let i = 1; i <= 50; i++) {
      clock.advance(100);
      p.update({ name: "etc", totalBytes: 50 * MiB, bytesHashed: i * MiB, bytesSent: i * 1024 });
    }
    p.sourceDone({ name: "etc", status: "sent", bytesSent: 50 * 1024, chunksSent: 50, chunksTotal: 800 });
    p.sourceStarted("www");
    p.sourceDone({ name: "www", status: "unchanged", bytesSent: 0, chunksSent: 0, chunksTotal: 12 });
    expect(out).toBe(
      "etc: started\n" +
        "etc: sent 50 KiB (50 of 800 chunks), 50 MiB hashed in 5.0 s\n" +
        "www: started\n" +
        "www: unchanged, nothing sent (0.0 s)\n",
    );
  });

  test("on a terminal: the bar is redrawn in place at most every redrawMs, then a full bar ends the source on its own line", () => {
    const clock = fakeClock();
    let out = "";
    const p = createProgress({ tty: true, write: (s) => (out += s), now: clock.now, redrawMs: 100 });
    p.sourceStarted("etc");
    expect(out).toBe("");
    p.update({ name: "etc", totalBytes: 100 * MiB, bytesHashed: 0, bytesSent: 0 });
    for (let i = 1; i <= 10; i++) {
      clock.advance(50);
      p.update({ name: "etc", totalBytes: 100 * MiB, bytesHashed: i * 10 * MiB, bytesSent: i * MiB });
    }
    // first update drawn at once, then one redraw per 100 ms over 500 ms
    expect(out.split("\r\x1b[K").filter(Boolean)).toHaveLength(6);
    expect(out).toContain("] 40%  40 MiB hashed  4.0 MiB sent  200 MiB/s  ETA 0:00");
    p.sourceDone({ name: "etc", status: "sent", bytesSent: 10 * MiB, chunksSent: 160, chunksTotal: 1600 });
    expect(out.endsWith(`\r\x1b[Ketc          [${"#".repeat(24)}] 100%  sent 10 MiB (160 of 1600 chunks), 100 MiB hashed in 0.5 s\n`)).toBe(
      true,
    );
  });

  test("a log line written during a bar clears it, prints the line, and redraws the bar below", () => {
    const clock = fakeClock();
    let out = "";
    const p = createProgress({ tty: true, write: (s) => (out += s), now: clock.now });
    p.sourceStarted("etc");
    p.update({ name: "etc", totalBytes: 10 * MiB, bytesHashed: MiB, bytesSent: 0 });
    out = "";
    p.writeLine("2026-11-26T10:00:00.000Z WARN skipped /etc/shadow\n");
    expect(out).toMatch(/^\r\x1b\[K2026-11-26T10:00:00\.000Z WARN skipped \/etc\/shadow\n\r\x1b\[Ketc +\[##/);
  });

  test("a failed source ends with its reason; a line with no bar drawn is written as is", () => {
    let out = "";
    const p = createProgress({ tty: true, write: (s) => (out += s) });
    p.writeLine("plain\n");
    p.sourceStarted("db");
    p.sourceDone({ name: "db", status: "failed", bytesSent: 0, chunksSent: 0, chunksTotal: 0, error: "/var/db: permission denied" });
    expect(out).toBe("plain\ndb: failed: /var/db: permission denied\n");
  });
});
