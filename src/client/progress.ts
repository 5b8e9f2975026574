// What `client --once` shows while it works: a bar per source on a terminal, one line at start and end otherwise.
import { formatSize } from "../config/units.ts";

/** One source's progress, as the upload reports it (upload/upload-context.ts UploadProgress). */
export interface ProgressUpdate {
  name: string;
  totalBytes: number;
  bytesHashed: number;
  bytesSent: number;
}

/** One source's outcome, as the tick records it. */
export interface ProgressOutcome {
  name: string;
  status: string;
  bytesSent: number;
  chunksSent: number;
  chunksTotal: number;
  error?: string;
}

export interface ProgressDisplay {
  sourceStarted(name: string): void;
  update(progress: ProgressUpdate): void;
  sourceDone(outcome: ProgressOutcome): void;
  /** Writes a whole line (ending in a newline) above the bar being drawn: log lines go through here. */
  writeLine(line: string): void;
}

export interface ProgressOptions {
  /** Draw bars in place (stderr is a terminal), or print plain lines. */
  tty: boolean;
  write: (text: string) => void;
  /** Milliseconds; injectable for tests. */
  now?: () => number;
  /** Terminal width (default 120). */
  columns?: number;
  /** Least time between two redraws of a bar (default 100 ms). */
  redrawMs?: number;
}

const BAR_CELLS = 24;

/** "0:07", "12:30", "1:02:03". */
export function formatEta(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}

/**
 * The bar line of a source in flight: name, bar, percent of the estimated size hashed, bytes hashed,
 * bytes sent, hashing rate and ETA. The percent stays below 100 until the source is done.
 */
export function barLine(p: ProgressUpdate, elapsedMs: number, width = 120): string {
  const fraction = p.totalBytes > 0 ? Math.min(0.99, p.bytesHashed / p.totalBytes) : 0;
  const filled = Math.round(fraction * BAR_CELLS);
  const rate = elapsedMs > 0 ? (p.bytesHashed * 1000) / elapsedMs : 0;
  const eta = rate > 0 ? formatEta(Math.max(0, p.totalBytes - p.bytesHashed) / rate) : "?";
  const line =
    `${p.name.padEnd(12)} [${"#".repeat(filled)}${"-".repeat(BAR_CELLS - filled)}] ${String(Math.floor(fraction * 100)).padStart(2)}%` +
    `  ${formatSize(p.bytesHashed)} hashed  ${formatSize(p.bytesSent)} sent  ${formatSize(rate)}/s  ETA ${eta}`;
  // A bar that wraps would break the in-place redraw; a terminal too narrow for the name and bar gets it whole.
  return line.length > width && width >= 40 ? line.slice(0, width - 1) : line;
}

/** The line a source ends with. */
export function doneLine(o: ProgressOutcome, hashed: number, elapsedMs: number): string {
  const took = `${(elapsedMs / 1000).toFixed(1)} s`;
  switch (o.status) {
    case "sent":
      return `${o.name}: sent ${formatSize(o.bytesSent)} (${o.chunksSent} of ${o.chunksTotal} chunks), ${formatSize(hashed)} hashed in ${took}`;
    case "unchanged":
      return `${o.name}: unchanged, nothing sent (${took})`;
    default:
      return `${o.name}: ${o.status}${o.error ? `: ${o.error}` : ""}`;
  }
}

/** A display writing through `write`; every method is cheap and never throws. */
export function createProgress(options: ProgressOptions): ProgressDisplay {
  const now = options.now ?? Date.now;
  const width = options.columns ?? 120;
  const redrawMs = options.redrawMs ?? 100;
  let current: { name: string; started: number; last: ProgressUpdate | null; drawnAt: number; drawn: string | null } | null = null;

  const clearBar = () => {
    if (options.tty && current?.drawn) options.write("\r\x1b[K");
  };
  const drawBar = () => {
    if (!options.tty || !current?.last) return;
    current.drawn = barLine(current.last, now() - current.started, width);
    current.drawnAt = now();
    options.write(`\r\x1b[K${current.drawn}`);
  };

  return {
    sourceStarted: (name) => {
      current = { name, started: now(), last: null, drawnAt: 0, drawn: null };
      if (!options.tty) options.write(`${name}: started\n`);
    },
    update: (p) => {
      if (!current || current.name !== p.name) return;
      current.last = { ...p };
      if (options.tty && (current.drawn === null || now() - current.drawnAt >= redrawMs)) drawBar();
    },
    sourceDone: (o) => {
      const started = current?.name === o.name ? current.started : now();
      const hashed = current?.name === o.name ? (current.last?.bytesHashed ?? 0) : 0;
      clearBar();
      current = null;
      if (options.tty && (o.status === "sent" || o.status === "unchanged")) {
        const full = `${o.name.padEnd(12)} [${"#".repeat(BAR_CELLS)}] 100%  `;
        options.write(`${full}${doneLine(o, hashed, now() - started).slice(o.name.length + 2)}\n`);
      } else {
        options.write(`${doneLine(o, hashed, now() - started)}\n`);
      }
    },
    writeLine: (line) => {
      clearBar();
      options.write(line);
      if (current?.drawn) drawBar();
    },
  };
}
