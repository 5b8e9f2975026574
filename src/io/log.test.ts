// Log lines: text and JSON formats, secrets masked, journald priorities, and size-based rotation of the file.
import { describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createLogger, formatLogJson, parseLogFormat, redactSecrets } from "./log.ts";

function tempFile(): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), "hashrelay-log-")), "hashrelay.log");
}

describe("formats", () => {
  test("text: one line with time, level, fields and message; json: one object per line with the same facts", () => {
    const file = tempFile();
    const out: string[] = [];
    const text = createLogger(file, { client: "web01" }, { stderr: (l) => out.push(l), journal: false });
    text.log("warn", "backup of etc not performed: server down (connection refused)", { name: "etc" });
    const json = createLogger(file, { client: "web01" }, { stderr: (l) => out.push(l), journal: false, format: "json" });
    json.log("info", "backup of www sent", { name: "www", bytesSent: 42, chunks: "1/3" });
    expect(out).toHaveLength(2);
    expect(out[0]).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z WARN client=web01 name=etc backup of etc not performed: server down \(connection refused\)\n$/,
    );
    const record = JSON.parse(out[1]!);
    expect(record).toEqual({
      time: expect.any(String),
      level: "info",
      msg: "backup of www sent",
      client: "web01",
      name: "www",
      bytesSent: 42,
      chunks: "1/3",
    });
    expect(Date.parse(record.time)).toBeGreaterThan(Date.now() - 60_000);
    // the file holds exactly what stderr got
    expect(fs.readFileSync(file, "utf8")).toBe(out.join(""));
  });

  test("a field cannot overwrite time, level or msg in JSON", () => {
    expect(JSON.parse(formatLogJson(new Date(0), "info", "m", { msg: "x", level: "error", other: 1 }))).toEqual({
      time: "1970-01-01T00:00:00.000Z",
      level: "info",
      msg: "m",
      other: 1,
    });
  });

  test("--log-format takes text or json, anything else is a usage error", () => {
    expect(parseLogFormat(undefined)).toBe("text");
    expect(parseLogFormat("json")).toBe("json");
    expect(() => parseLogFormat("xml")).toThrow("--log-format xml: expected text or json");
  });

  test("journald: each stderr line starts with its syslog priority; the file does not", () => {
    const file = tempFile();
    const out: string[] = [];
    const log = createLogger(file, {}, { stderr: (l) => out.push(l), journal: true });
    log.log("error", "e");
    log.log("warn", "w");
    log.log("info", "i");
    expect(out.map((l) => l.slice(0, 3))).toEqual(["<3>", "<4>", "<6>"]);
    expect(fs.readFileSync(file, "utf8")).not.toContain("<");
  });
});

describe("secrets", () => {
  test("a private key's secret line is masked in messages and fields, in both formats", () => {
    const secret = "hashrelay-ed25519-seed:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    expect(redactSecrets(`bad key: ${secret}\n`)).toBe("bad key: hashrelay-ed25519-seed:[redacted]\n");
    for (const format of ["text", "json"] as const) {
      const out: string[] = [];
      const log = createLogger(undefined, {}, { stderr: (l) => out.push(l), journal: false, format });
      log.log("error", `cannot parse ${secret}`, { detail: secret });
      expect(out.join("")).not.toContain("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8");
      expect(out.join("")).toContain("[redacted]");
    }
  });
});

describe("rotation", () => {
  test("past maxBytes the file moves to .1, .1 to .2, and the oldest beyond keep is dropped; no line is split", () => {
    const file = tempFile();
    const log = createLogger(file, {}, { stderr: () => undefined, journal: false, maxBytes: 1000, keep: 2 });
    for (let i = 0; i < 100; i++) log.log("info", `event ${String(i).padStart(3, "0")} ${"x".repeat(40)}`);
    log.close();
    const dir = path.dirname(file);
    expect(fs.readdirSync(dir).sort()).toEqual(["hashrelay.log", "hashrelay.log.1", "hashrelay.log.2"]);
    const read = (f: string) => fs.readFileSync(path.join(dir, f), "utf8");
    for (const f of ["hashrelay.log", "hashrelay.log.1", "hashrelay.log.2"]) {
      expect(fs.statSync(path.join(dir, f)).size).toBeLessThanOrEqual(1000);
      for (const line of read(f).trimEnd().split("\n")) expect(line).toMatch(/ INFO event \d{3} x{40}$/);
    }
    // newest events in the live file, continuing from .1, which continues from .2; event 099 is the last one written
    const numbers = (f: string) =>
      read(f)
        .trimEnd()
        .split("\n")
        .map((l) => Number(/event (\d+)/.exec(l)![1]));
    const all = [...numbers("hashrelay.log.2"), ...numbers("hashrelay.log.1"), ...numbers("hashrelay.log")];
    expect(all.at(-1)).toBe(99);
    expect(all).toEqual(Array.from({ length: all.length }, (_, i) => 100 - all.length + i));
  });

  test("a logger that reopens finds the existing size and appends (no truncation across restarts)", () => {
    const file = tempFile();
    const first = createLogger(file, {}, { stderr: () => undefined, journal: false });
    first.log("info", "one");
    first.close();
    const second = createLogger(file, {}, { stderr: () => undefined, journal: false });
    second.log("info", "two");
    second.close();
    expect(
      fs
        .readFileSync(file, "utf8")
        .trimEnd()
        .split("\n")
        .map((l) => l.split(" ").at(-1)),
    ).toEqual(["one", "two"]);
  });

  test("two writers on one file (daemon and a --once run): after one rotates, the other follows without losing lines", () => {
    const file = tempFile();
    const a = createLogger(file, {}, { stderr: () => undefined, journal: false, maxBytes: 600, keep: 5 });
    const b = createLogger(file, {}, { stderr: () => undefined, journal: false, maxBytes: 600, keep: 5 });
    for (let i = 0; i < 30; i++) (i % 2 ? a : b).log("info", `line ${String(i).padStart(2, "0")} ${"y".repeat(30)}`);
    a.close();
    b.close();
    const dir = path.dirname(file);
    const lines = fs.readdirSync(dir).flatMap((f) => fs.readFileSync(path.join(dir, f), "utf8").trimEnd().split("\n"));
    expect(lines.map((l) => /line (\d+)/.exec(l)![1]).sort()).toEqual(Array.from({ length: 30 }, (_, i) => String(i).padStart(2, "0")));
  });

  test("an unwritable log folder gives one warning and the logger goes on (stderr still gets every line)", () => {
    const out: string[] = [];
    const log = createLogger("/nonexistent-dir/hashrelay.log", {}, { stderr: (l) => out.push(l), journal: false });
    log.log("info", "still here");
    expect(out.join("")).toContain("still here");
  });
});
