// Test helper: a small tmpfs mounted as a server's storage, so a test can fill the disk for real (root only).
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

/**
 * Whether this process may mount a tmpfs (root, or a user namespace that allows it): tried once on a
 * throw-away folder. When not, says so on stderr: a test that needs it is skipped, loudly.
 */
export function canMountTmpfs(): boolean {
  const probe = fs.mkdtempSync(path.join(os.tmpdir(), "hashrelay-tmpfs-probe-"));
  const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", probe], { encoding: "utf8" });
  if (mounted.status === 0) spawnSync("umount", [probe]);
  fs.rmSync(probe, { recursive: true, force: true });
  if (mounted.status !== 0)
    console.warn(`SKIPPED: cannot mount a tmpfs here (${(mounted.stderr || mounted.error?.message || "").trim()}); run as root`);
  return mounted.status === 0;
}

/** Mounts a tmpfs of `mib` MiB on `dir` (created). Throws when mount fails. */
export function mountTmpfs(dir: string, mib: number): void {
  fs.mkdirSync(dir, { recursive: true });
  const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${mib}m,mode=0750`, "tmpfs", dir], { encoding: "utf8" });
  if (mounted.status !== 0) throw new Error(`mount tmpfs on ${dir} failed: ${mounted.stderr}`);
}

/** Unmounts `dir` (lazily, so a file still open cannot keep it); never throws. */
export function unmountTmpfs(dir: string): void {
  spawnSync("umount", ["-l", dir]);
}

/** Free bytes on the file system holding `dir`. */
export function freeBytesAt(dir: string): number {
  const st = fs.statfsSync(dir);
  return st.bavail * st.bsize;
}

/** Writes `file` until the file system holding it is full (ENOSPC); returns the bytes written. */
export function fillDisk(file: string): number {
  const block = Buffer.alloc(1024 * 1024, 0x5a);
  const fd = fs.openSync(file, "w");
  let written = 0;
  try {
    for (let size = block.length; size >= 512; ) {
      try {
        written += fs.writeSync(fd, block, 0, size);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
        size /= 2;
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  return written;
}
