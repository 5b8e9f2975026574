// Tells when a file (a config, a status record) may have changed: folder watches along its symlinks, plus a cheap poll as a safety net.
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";

export interface WatchOptions {
  /** Quiet time after the last event before onChange runs (default 100 ms). */
  debounceMs?: number;
  /** A burst longer than this still calls onChange once this long after it began (default 500 ms). */
  maxDelayMs?: number;
  /** How often the file's (dev, ino, size, mtime, sha256) is compared with its last value (default 1 s). */
  pollMs?: number;
}

export interface FileWatch {
  close(): void;
}

/**
 * Calls `onChange` (debounced) whenever `file` may have changed: written in place, replaced by a rename
 * (git, editors), or, when it is a symlink, re-pointed or its target changed. Watches the folder of the
 * file and of every hop of its symlink chain (fs.watch), re-resolved after each event, and polls the
 * file's identity and content hash. A false alarm is possible (the caller compares hashes); a missed
 * change is not, within one poll. Never throws; a folder that cannot be watched is left to the poll.
 */
export function watchFile(file: string, onChange: () => void, opts: WatchOptions = {}): FileWatch {
  const debounceMs = opts.debounceMs ?? 100;
  const maxDelayMs = opts.maxDelayMs ?? 500;
  const abs = path.resolve(file);
  const watchers = new Map<string, fs.FSWatcher>();
  let names = new Set<string>();
  let timer: ReturnType<typeof setTimeout> | null = null;
  let firstEventAt = 0;
  let closed = false;
  let last = fingerprint(abs);

  const fire = () => {
    timer = null;
    firstEventAt = 0;
    if (closed) return;
    refreshWatches();
    last = fingerprint(abs);
    onChange();
  };
  const schedule = () => {
    if (closed) return;
    const now = Date.now();
    if (firstEventAt === 0) firstEventAt = now;
    if (timer) clearTimeout(timer);
    timer = setTimeout(fire, Math.max(0, Math.min(debounceMs, firstEventAt + maxDelayMs - now)));
  };

  const refreshWatches = () => {
    const hops = symlinkHops(abs);
    names = new Set(hops.map((h) => `${h.dir}\0${h.name}`));
    const dirs = new Set(hops.map((h) => h.dir));
    for (const [dir, watcher] of watchers) {
      if (!dirs.has(dir)) {
        watcher.close();
        watchers.delete(dir);
      }
    }
    for (const dir of dirs) {
      if (watchers.has(dir)) continue;
      try {
        const watcher = fs.watch(dir, { persistent: false }, (_event, name) => {
          if (name === null || names.has(`${dir}\0${String(name)}`)) schedule();
        });
        watcher.on("error", () => {
          watcher.close();
          watchers.delete(dir);
        });
        watchers.set(dir, watcher);
      } catch {
        // missing or unreadable folder: the poll still sees the file
      }
    }
  };
  refreshWatches();

  const poll = setInterval(() => {
    const now = fingerprint(abs);
    if (now !== last) {
      last = now;
      schedule();
    }
  }, opts.pollMs ?? 1000);
  poll.unref();

  return {
    close: () => {
      closed = true;
      clearInterval(poll);
      if (timer) clearTimeout(timer);
      for (const watcher of watchers.values()) watcher.close();
      watchers.clear();
    },
  };
}

/** The folder and name of the path and of every symlink it leads through, ending with the real file. */
function symlinkHops(abs: string): { dir: string; name: string }[] {
  const hops: { dir: string; name: string }[] = [];
  let current = abs;
  for (let i = 0; i < 16; i++) {
    hops.push({ dir: path.dirname(current), name: path.basename(current) });
    let link: string;
    try {
      if (!fs.lstatSync(current).isSymbolicLink()) break;
      link = fs.readlinkSync(current);
    } catch {
      break;
    }
    current = path.resolve(path.dirname(current), link);
  }
  try {
    const real = fs.realpathSync(abs);
    hops.push({ dir: path.dirname(real), name: path.basename(real) });
  } catch {
    // dangling: nothing more to watch
  }
  return hops;
}

/** "dev:ino:size:mtime:sha256" of what `abs` points to, or "missing". Reads the whole file: the files watched are small. */
function fingerprint(abs: string): string {
  try {
    const info = fs.statSync(abs);
    const hash = createHash("sha256").update(fs.readFileSync(abs)).digest("hex");
    return `${info.dev}:${info.ino}:${info.size}:${info.mtimeMs}:${hash}`;
  } catch (err) {
    return `missing:${(err as NodeJS.ErrnoException).code ?? "?"}`;
  }
}
