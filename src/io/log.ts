// One line per event, to stderr and optionally appended to a rotating log file: time, level, fields, message.
import fs from "node:fs";
import { RotatingLogFile, type RotationOptions } from "./log-file.ts";
import { HashRelayError } from "../errors.ts";

export type Level = "debug" | "info" | "warn" | "error";
export type LogFields = Record<string, string | number | boolean | undefined>;

export interface Logger {
  log(level: Level, message: string, fields?: LogFields): void;
}

/** Formats `2026-11-26T10:00:00.000Z INFO client=web01 name=etc message`; values with spaces are quoted. */
export function formatLogLine(at: Date, level: Level, message: string, fields: LogFields = {}): string {
  const parts = [at.toISOString(), level.toUpperCase()];
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    const text = String(value);
    parts.push(`${key}=${/[\s"=]/.test(text) || text === "" ? JSON.stringify(text) : text}`);
  }
  parts.push(message);
  return parts.join(" ");
}

export type LogFormat = "text" | "json";

export interface LoggerOptions extends RotationOptions {
  /** "text" (default): formatLogLine; "json": one JSON object per line. */
  format?: LogFormat;
  /** Where stderr lines go (default process.stderr); the progress display passes one that keeps its bars below the lines. */
  stderr?: (line: string) => void;
  /** Prefix stderr lines with their syslog priority (<3> error … <7> debug) for journald. Default: when $JOURNAL_STREAM is set. */
  journal?: boolean;
}

/** `{"time":…,"level":…,"msg":…,…fields}`: the same event as formatLogLine, for log pipelines. */
export function formatLogJson(at: Date, level: Level, message: string, fields: LogFields = {}): string {
  const record: Record<string, string | number | boolean> = { time: at.toISOString(), level, msg: message };
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined && !(key in record)) record[key] = value;
  }
  return JSON.stringify(record);
}

const SECRET = /hashrelay-ed25519-seed:\s*[A-Za-z0-9+/=]*/g;

/** Masks anything shaped like a private key file's secret line: no secret reaches a log, whatever the caller passes. */
export function redactSecrets(text: string): string {
  return text.replace(SECRET, "hashrelay-ed25519-seed:[redacted]");
}

/** True when stderr is the journal stream systemd announced in $JOURNAL_STREAM ("device:inode"), not merely inherited. */
function stderrIsJournal(): boolean {
  const stream = process.env.JOURNAL_STREAM;
  if (!stream) return false;
  try {
    const st = fs.fstatSync(2);
    return stream === `${st.dev}:${st.ino}`;
  } catch {
    return false;
  }
}

const PRIORITY: Record<Level, number> = { error: 3, warn: 4, info: 6, debug: 7 };

export function parseLogFormat(value: string | undefined): LogFormat {
  if (value === undefined || value === "text" || value === "json") return value ?? "text";
  throw new HashRelayError("USAGE", `--log-format ${value}: expected text or json`, "pass --log-format text or --log-format json");
}

/** A logger writing to stderr and, when given, appending to `file` (created 0640, rotated by size). Never throws. */
export function createLogger(
  file?: string,
  base: LogFields = {},
  options: LoggerOptions = {},
): Logger & { child(fields: LogFields): Logger; close(): void } {
  const sink = file ? new RotatingLogFile(file, options) : null;
  const format = options.format === "json" ? formatLogJson : formatLogLine;
  const journal = options.journal ?? stderrIsJournal();
  const stderr = options.stderr ?? ((line: string) => void process.stderr.write(line));
  const write = (level: Level, message: string, fields: LogFields) => {
    const clean: LogFields = {};
    for (const [key, value] of Object.entries({ ...base, ...fields }))
      clean[key] = typeof value === "string" ? redactSecrets(value) : value;
    const line = format(new Date(), level, redactSecrets(message), clean) + "\n";
    stderr(journal ? `<${PRIORITY[level]}>${line}` : line);
    sink?.write(line);
  };
  return {
    log: (level: Level, message: string, fields: LogFields = {}) => write(level, message, fields),
    child: (fields: LogFields): Logger => ({ log: (level, message, more = {}) => write(level, message, { ...fields, ...more }) }),
    close: () => sink?.close(),
  };
}
