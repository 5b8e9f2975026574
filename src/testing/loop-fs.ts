// Test-only: a small XFS (reflink=1), btrfs or ext4 file system in a loop file, mounted for a test file and removed after it.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, statfsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export type LoopFsType = "xfs" | "btrfs" | "ext4";

/** A mounted loop file system, or why there is none (`mount` is then null). */
export interface LoopFs {
  type: LoopFsType;
  /** The mount point, or null when the file system could not be made (see `missing`). */
  mount: string | null;
  /** Why it could not be made: no root, no loop devices, a missing mkfs, a kernel without the type. */
  missing: string | null;
  /** Unmounts and deletes everything. Never throws. */
  remove(): void;
}

const MKFS: Record<LoopFsType, string[]> = {
  xfs: ["mkfs.xfs", "-q", "-m", "reflink=1"],
  btrfs: ["mkfs.btrfs", "-q"],
  ext4: ["mkfs.ext4", "-q", "-F"],
};

/** Runs argv; the error text, or null when it exited 0. */
function run(argv: string[]): string | null {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8", env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` } });
  if (r.error) return `${argv[0]}: ${r.error.message}`;
  return r.status === 0 ? null : `${argv.join(" ")}: ${(r.stderr || r.stdout).trim().split("\n")[0]}`;
}

/**
 * Makes a `sizeMiB` file system of `type` in a loop file under the temp folder and mounts it (as
 * root, with losetup and the type's mkfs; build/provision.sh installs them). Synchronous, so that a
 * test file can skip its tests at load time when it cannot (then `mount` is null and `missing` says
 * why). Call remove() after the tests.
 */
export function makeLoopFs(type: LoopFsType, sizeMiB = 512): LoopFs {
  const base = mkdtempSync(join(tmpdir(), `hashrelay-${type}-`));
  const image = join(base, "fs.img");
  const mount = join(base, "mnt");
  let device: string | null = null;
  let mounted = false;
  const remove = () => {
    // A file still open there (a test that failed before closing its store) keeps it busy: detach it lazily then.
    if (mounted && run(["umount", mount])) run(["umount", "-l", mount]);
    if (device) run(["losetup", "-d", device]);
    try {
      rmSync(base, { recursive: true, force: true });
    } catch {
      // left for the temp folder's cleaner
    }
  };
  const fail = (missing: string): LoopFs => {
    remove();
    return { type, mount: null, missing, remove: () => undefined };
  };
  if (process.getuid?.() !== 0) return fail("not root (loop devices need root)");
  const steps: string[][] = [
    ["truncate", "-s", `${sizeMiB}M`, image],
    [...MKFS[type], image],
    ["mkdir", "-p", mount],
  ];
  for (const step of steps) {
    const error = run(step);
    if (error) return fail(error);
  }
  const attached = spawnSync("losetup", ["-f", "--show", image], { encoding: "utf8" });
  if (attached.status !== 0) return fail(`losetup: ${(attached.stderr || String(attached.error)).trim()}`);
  device = attached.stdout.trim();
  const error = run(["mount", device, mount]);
  if (error) return fail(error);
  mounted = true;
  return { type, mount, missing: null, remove };
}

/** Bytes in use on the file system holding `path` (blocks - free blocks), after a sync. */
export function usedBytes(path: string): number {
  spawnSync("sync", ["-f", path]);
  const fs = statfsSync(path);
  return (fs.blocks - fs.bfree) * fs.bsize;
}

/** Bytes of `file`'s extents that FIEMAP flags as shared with another file (filefrag -v). */
export function sharedBytes(file: string): number {
  const out = spawnSync("filefrag", ["-v", "-b4096", file], { encoding: "utf8" }).stdout;
  let shared = 0;
  for (const line of out.split("\n")) {
    const m = /^\s*\d+:\s+\d+\.\.\s*\d+:\s+\d+\.\.\s*\d+:\s+(\d+):.*\bshared\b/.exec(line);
    if (m) shared += Number(m[1]) * 4096;
  }
  return shared;
}

/** The banner a test file prints when it skips its real-file-system tests, so that a skip is never read as a pass. */
export function skipBanner(fs: LoopFs, what: string): void {
  console.warn(`\n*** SKIPPED: ${what} on ${fs.type}: no loop file system here (${fs.missing}) ***\n`);
}
