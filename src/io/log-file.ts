// An append-only log file with size-based rotation: FILE → FILE.1 → … → FILE.<keep>, the oldest dropped.
import fs from "node:fs";

export const LOG_MAX_BYTES = 10 * 1024 * 1024;
export const LOG_KEEP = 3;

export interface RotationOptions {
  /** Rotate before a write would take the file past this size (default 10 MiB). */
  maxBytes?: number;
  /** Rotated files kept beside the live one (default 3). */
  keep?: number;
  /** Mode of a newly created file (default 0640). */
  mode?: number;
}

/** Appends whole lines to `file`, rotating by size. Never throws: a failing disk must not stop a backup (one warning on stderr). */
export class RotatingLogFile {
  private fd: number | null = null;
  private size = 0;
  private warned = false;
  private readonly maxBytes: number;
  private readonly keep: number;
  private readonly mode: number;

  constructor(
    readonly file: string,
    options: RotationOptions = {},
  ) {
    this.maxBytes = options.maxBytes ?? LOG_MAX_BYTES;
    this.keep = Math.max(1, options.keep ?? LOG_KEEP);
    this.mode = options.mode ?? 0o640;
    this.open();
  }

  /** Appends `line` (which ends with a newline). */
  write(line: string): void {
    const bytes = Buffer.byteLength(line);
    if (this.fd !== null && this.size > 0 && this.size + bytes > this.maxBytes) this.rotate();
    if (this.fd === null) return;
    try {
      fs.writeSync(this.fd, line);
      this.size += bytes;
    } catch (err) {
      this.warn(`cannot write log file ${this.file}: ${(err as Error).message}`);
    }
  }

  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }

  private open(): void {
    try {
      this.fd = fs.openSync(this.file, "a", this.mode);
      this.size = fs.fstatSync(this.fd).size;
    } catch (err) {
      this.fd = null;
      this.warn(`cannot open log file ${this.file}: ${(err as Error).message}`);
    }
  }

  /** Shifts the files down one place; if another process (a `--once` run beside the daemon) rotated first, only reopens. */
  private rotate(): void {
    try {
      const ours = fs.fstatSync(this.fd!);
      const current = fs.statSync(this.file, { throwIfNoEntry: false });
      if (current && current.ino === ours.ino && current.dev === ours.dev) {
        for (let i = this.keep - 1; i >= 1; i--) renameIfExists(`${this.file}.${i}`, `${this.file}.${i + 1}`);
        fs.renameSync(this.file, `${this.file}.1`);
      }
    } catch (err) {
      this.warn(`cannot rotate log file ${this.file}: ${(err as Error).message}`);
    }
    this.close();
    this.open();
  }

  private warn(message: string): void {
    if (this.warned) return;
    this.warned = true;
    process.stderr.write(`warning: ${message}\n`);
  }
}

function renameIfExists(from: string, to: string): void {
  try {
    fs.renameSync(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
}
