// One line per event, to stderr and optionally appended to a log file: time, level, fields, message.
import fs from "node:fs";

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

/** A logger writing to stderr and, when given, appending to `file` (created 0640). Never throws. */
export function createLogger(file?: string, base: LogFields = {}): Logger & { child(fields: LogFields): Logger } {
  let fd: number | null = null;
  if (file) {
    try {
      fd = fs.openSync(file, "a", 0o640);
    } catch (err) {
      process.stderr.write(`warning: cannot open log file ${file}: ${(err as Error).message}\n`);
    }
  }
  const write = (level: Level, message: string, fields: LogFields) => {
    const line = formatLogLine(new Date(), level, message, { ...base, ...fields }) + "\n";
    process.stderr.write(line);
    if (fd !== null) {
      try {
        fs.writeSync(fd, line);
      } catch {
        // a full disk must not stop the backup; stderr still has the line
      }
    }
  };
  const logger = {
    log: (level: Level, message: string, fields: LogFields = {}) => write(level, message, fields),
    child: (fields: LogFields): Logger => ({ log: (level, message, more = {}) => write(level, message, { ...fields, ...more }) }),
  };
  return logger;
}
