// Read-modify-write of a small text file under a lock, replaced atomically with its mode and owner kept.
import fs from "node:fs";
import { chmod, chown, lstat, open, readFile, realpath, stat, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { HashRelayError } from "../errors.ts";
import { writeFileAtomicIf } from "./atomic-file.ts";

export interface EditResult {
  /** The file actually replaced (the symlink's target when `file` is a symlink). */
  target: string;
  before: string;
  after: string;
}

export interface EditOptions {
  /** How long to wait for another editor's lock (default 10 s). */
  lockTimeoutMs?: number;
  /** A lock whose holder wrote no readable pid is stale after this long (default 10 s). */
  staleLockMs?: number;
}

/** Rereads and re-edits at most this many times when the file changes under us. */
const MAX_ATTEMPTS = 5;

/**
 * Rewrites `file` through `edit` (text in, new text out; it may throw to abort, and then nothing is
 * written). A symlink is followed: its target is replaced, the link stays. Two concurrent edits lose
 * nothing: each takes the lock `.<name>.lock` beside the target (a lock whose pid is dead is taken over);
 * and if the text changes between the read and the replace anyway (an editor that ignores the lock), the
 * edit runs again on the new text. The new file is written to a temp file in the same folder with the
 * old mode, owner and group, fsynced, renamed over the old one, and the folder fsynced.
 * Throws CONFIG when the lock stays held past lockTimeoutMs or the owner cannot be kept, fs errors
 * (ENOENT, EACCES...) as they come, and whatever `edit` throws.
 */
export async function editFileLocked(file: string, edit: (text: string) => string, opts: EditOptions = {}): Promise<EditResult> {
  const target = await realpath(file);
  const lockPath = join(dirname(target), `.${basename(target)}.lock`);
  const release = await acquireLock(lockPath, target, opts.lockTimeoutMs ?? 10_000, opts.staleLockMs ?? 10_000);
  try {
    for (let attempt = 1; ; attempt++) {
      const before = await readFile(target, "utf8");
      const after = edit(before);
      if (after === before) return { target, before, after };
      const replaced = await replaceIfUnchanged(target, before, after);
      if (replaced) return { target, before, after };
      if (attempt >= MAX_ATTEMPTS) {
        throw new HashRelayError("CONFIG", `${target} kept changing while it was being edited`, "try again once other editors are done");
      }
    }
  } finally {
    await release();
  }
}

/** Writes `after` beside `target` and renames it over `target` unless `target` no longer holds `before`. */
async function replaceIfUnchanged(target: string, before: string, after: string): Promise<boolean> {
  const info = await stat(target);
  return writeFileAtomicIf(target, after, 0o600, async (temp) => {
    await chmod(temp, info.mode & 0o7777);
    if (info.uid !== process.getuid?.() || info.gid !== process.getgid?.()) {
      try {
        await chown(temp, info.uid, info.gid);
      } catch (err) {
        const hint = `run as root or as the file's owner (uid ${info.uid}, gid ${info.gid})`;
        throw new HashRelayError(
          "CONFIG",
          `cannot keep the owner of ${target}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
          hint,
          { cause: err },
        );
      }
    }
    // Compare-and-swap: the last look before the rename; an editor writing in this instant is the only loser left.
    return (await readFile(target, "utf8")) === before;
  });
}

/** Takes the lock file (O_EXCL, holding our pid); resolves to its release. */
async function acquireLock(lockPath: string, target: string, timeoutMs: number, staleMs: number): Promise<() => Promise<void>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const handle = await open(lockPath, "wx", 0o600);
      try {
        await handle.writeFile(`${process.pid}\n`);
      } finally {
        await handle.close();
      }
      return async () => {
        await unlink(lockPath).catch(() => undefined);
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const holder = lockHolder(lockPath);
    if (holder.stale(staleMs)) {
      // Taken over only if it still names the same dead holder when we remove it.
      if (lockHolder(lockPath).pid === holder.pid) await unlink(lockPath).catch(() => undefined);
      continue;
    }
    if (Date.now() > deadline) {
      const who = holder.pid !== null ? `process ${holder.pid}` : "another process";
      throw new HashRelayError(
        "CONFIG",
        `${target} is being edited by ${who} (lock ${lockPath})`,
        `wait and try again; if no hashrelay -add/-remove is running, remove ${lockPath}`,
      );
    }
    await Bun.sleep(10 + Math.floor(Math.random() * 30));
  }
}

function lockHolder(lockPath: string): { pid: number | null; stale(staleMs: number): boolean } {
  let pid: number | null = null;
  let ageMs = 0;
  try {
    const text = fs.readFileSync(lockPath, "utf8").trim();
    pid = /^[0-9]+$/.test(text) ? Number(text) : null;
    ageMs = Date.now() - fs.statSync(lockPath).mtimeMs;
  } catch {
    return { pid: null, stale: () => false }; // gone already: the next attempt takes it
  }
  return {
    pid,
    stale: (staleMs) => (pid === null ? ageMs > staleMs : !isAlive(pid)),
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** True when `path` exists as anything (a dangling symlink counts). Never throws. */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}
