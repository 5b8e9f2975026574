// An exclusive lock on a folder (flock(2) on the folder itself): held by one process at a time, gone when it ends.
import fs from "node:fs";
import { HashRelayError } from "../errors.ts";
import type { Library } from "bun:ffi";
import { lastErrno, openLibc } from "./libc.ts";

const LOCK_EX = 2;
const LOCK_NB = 4;
const EINTR = 4;
const EWOULDBLOCK = 11;

const FLOCK_SYMBOLS = { flock: { args: ["i32", "i32"], returns: "i32" } } as const;
let libc: Library<typeof FLOCK_SYMBOLS> | null | undefined;

export interface FolderLock {
  /** Gives the lock up (closes its descriptor); a second call is a no-op. */
  release(): void;
}

/**
 * Takes the exclusive lock on `dir` without waiting: the lock, or null while another process (or another
 * descriptor of this one) holds it. The kernel drops the lock when its holder exits, however it ends, so
 * a crash leaves nothing stale. Opening the folder read-only is all it needs: root and the folder's owner
 * lock the same folder whoever created it. Throws ENOENT/EACCES as fs does, and INTERNAL when flock is
 * unavailable (no C library) or fails for another reason than the lock being held.
 */
export function tryLockFolder(dir: string): FolderLock | null {
  libc ??= openLibc(FLOCK_SYMBOLS);
  if (!libc) throw new HashRelayError("INTERNAL", "flock unavailable: no C library could be loaded");
  const fd = fs.openSync(dir, "r");
  for (;;) {
    if (libc.symbols.flock(fd, LOCK_EX | LOCK_NB) === 0) break;
    const errno = lastErrno();
    if (errno === EINTR) continue;
    fs.closeSync(fd);
    // errno 0: it could not be read; a held lock is by far the likeliest reason
    if (errno === EWOULDBLOCK || errno === 0) return null;
    throw new HashRelayError("INTERNAL", `flock ${dir} failed (errno ${errno})`);
  }
  let open = true;
  return {
    release: () => {
      if (!open) return;
      open = false;
      fs.closeSync(fd);
    },
  };
}

/**
 * The pid holding the flock on `dir`, as /proc/locks shows it (in this process's pid namespace), or
 * null when it cannot be told. Never throws.
 */
export function folderLockHolder(dir: string): number | null {
  try {
    const inode = fs.statSync(dir).ino;
    for (const line of fs.readFileSync("/proc/locks", "utf8").split("\n")) {
      // "1: FLOCK  ADVISORY  WRITE 8198 fe:00:2531537 0 EOF" (a waiter's line carries "->" after the number)
      const m = /^\d+:\s+FLOCK\s+\S+\s+WRITE\s+(\d+)\s+[0-9a-f]+:[0-9a-f]+:(\d+)\s/.exec(line);
      if (m && Number(m[2]) === inode && Number(m[1]) > 0) return Number(m[1]);
    }
  } catch {
    // no /proc, or the folder is gone
  }
  return null;
}
