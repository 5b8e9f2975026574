// Whether the storage's file system lets two files share blocks (reflinks): probed at open, then used by each assembly.
import { open, readFile, statfs, unlink } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { FileHandle } from "node:fs/promises";
import { writeFileAtomic } from "../io/atomic-file.ts";
import { cloneRange, errnoName } from "../io/file-clone.ts";
import type { StoreLayout } from "./layout.ts";
import type { StoreLog } from "./store-log.ts";

/** What `hashrelay status` reads (sharing-state.json in .hashrelay): how archives are assembled. */
export interface SharingState {
  /** True: unchanged runs of the previous archive are cloned; false: copied, as on ext4. */
  cloning: boolean;
  /** The file system's block: clones start and end on its multiples. */
  blockSize: number;
  /** Why the store copies ("EOPNOTSUPP": the file system cannot clone). */
  reason?: string;
  checkedAt: string;
}

const STATE_FILE = "sharing-state.json";
/** Errors after which no clone is tried again until the next start: the file system cannot clone (here, at this block). */
const PERMANENT = new Set(["EOPNOTSUPP", "ENOTTY", "EXDEV", "EINVAL", "ENOSYS", "EPERM", "EBADF"]);

/** The state file's path under the storage's derived folder. */
export function sharingStatePath(layout: StoreLayout): string {
  return join(layout.derivedDir(), STATE_FILE);
}

/** The state the running (or last) server recorded, or null when none was or it is unreadable. Never throws. */
export async function readSharingState(layout: StoreLayout): Promise<SharingState | null> {
  try {
    const state = JSON.parse(await readFile(sharingStatePath(layout), "utf8")) as SharingState;
    return typeof state.cloning === "boolean" && Number.isInteger(state.blockSize) ? state : null;
  } catch {
    return null;
  }
}

/**
 * The store's clone switch. Cloning is on when the probe at open could clone a block in
 * .hashrelay/tmp; the first refusal that says the file system cannot (EOPNOTSUPP, EXDEV, EINVAL...)
 * turns it off for good (logged once, recorded for `status`); EAGAIN (ZFS: blocks not yet synced)
 * and ENOSPC only make that one run a copy.
 */
export class BlockSharing {
  private readonly reported = new Set<string>();

  private constructor(
    /** Where the state is recorded for `status`; null: nowhere. */
    private readonly layout: StoreLayout | null,
    private readonly log: StoreLog,
    private state: SharingState,
  ) {}

  /** A switch that never clones (an assembly outside a store). */
  static off(): BlockSharing {
    return new BlockSharing(null, () => undefined, {
      cloning: false,
      blockSize: 4096,
      reason: "off",
      checkedAt: new Date(0).toISOString(),
    });
  }

  /**
   * Clones one block between two files of .hashrelay/tmp to learn whether this file system shares
   * blocks; logs the answer (info when it clones, warn when it copies) and records it for `status`.
   * Never throws: a failed probe means copying.
   */
  static async probe(layout: StoreLayout, log: StoreLog, nowMs: number): Promise<BlockSharing> {
    const blockSize = await statfs(layout.root).then(
      (fs) => (fs.bsize >= 512 && fs.bsize <= 1 << 20 && (fs.bsize & (fs.bsize - 1)) === 0 ? fs.bsize : 4096),
      () => 4096,
    );
    const reason = await probeClone(layout.tmpDir(), blockSize);
    const sharing = new BlockSharing(layout, log, {
      cloning: reason === null,
      blockSize,
      ...(reason === null ? {} : { reason }),
      checkedAt: new Date(nowMs).toISOString(),
    });
    if (reason === null) log("info", "storage.clones", { blockSize, note: "unchanged runs of an archive are shared with its successor" });
    else sharing.warnCopies(reason);
    await sharing.record();
    return sharing;
  }

  get cloning(): boolean {
    return this.state.cloning;
  }

  get blockSize(): number {
    return this.state.blockSize;
  }

  /**
   * Clones [srcOffset, srcOffset + length) of `src` to `destOffset` of `dest` (block multiples):
   * true when done; false when the file system refused (the caller copies those bytes; `what` names
   * them in the log). Never throws.
   */
  async clone(src: FileHandle, srcOffset: number, length: number, dest: FileHandle, destOffset: number, what: string): Promise<boolean> {
    if (!this.state.cloning) return false;
    const errno = cloneRange(src.fd, srcOffset, length, dest.fd, destOffset);
    if (errno === 0) return true;
    const name = errnoName(errno);
    if (PERMANENT.has(name)) {
      this.state = { ...this.state, cloning: false, reason: name, checkedAt: new Date().toISOString() };
      this.warnCopies(name, what);
      await this.record();
    } else if (!this.reported.has(name)) {
      this.reported.add(name);
      this.log("warn", "storage.clone-refused", { error: name, what, note: "copied instead; logged once per error" });
    }
    return false;
  }

  /** Logs, once per reason, that archives are copied whole. */
  private warnCopies(reason: string, what?: string): void {
    if (this.reported.has(reason)) return;
    this.reported.add(reason);
    this.log("warn", "storage.copies", {
      reason,
      ...(what ? { what } : {}),
      note: "this file system cannot share blocks: each backup writes its whole archive and the trash keeps whole copies (XFS with reflink=1, btrfs or ZFS 2.2+ would not)",
    });
  }

  /** Writes the state for `status`; a failure is logged. */
  private async record(): Promise<void> {
    if (!this.layout) return;
    await writeFileAtomic(sharingStatePath(this.layout), JSON.stringify(this.state) + "\n", 0o640).catch((err: Error) =>
      this.log("warn", "storage.state-unwritten", { error: err.message }),
    );
  }
}

/** Null when a block written to a new file in `dir` can be cloned into another, else the errno's name. Removes both files. */
async function probeClone(dir: string, blockSize: number): Promise<string | null> {
  const base = join(dir, `probe-${randomBytes(6).toString("hex")}`);
  let src: FileHandle | undefined;
  let dest: FileHandle | undefined;
  try {
    src = await open(`${base}.a`, "wx+", 0o600);
    dest = await open(`${base}.b`, "wx+", 0o600);
    await src.write(new Uint8Array(blockSize).fill(0x48), 0, blockSize, 0);
    await src.sync();
    const errno = cloneRange(src.fd, 0, blockSize, dest.fd, 0);
    // ZFS refuses blocks of the transaction group still open: it clones once they are on disk.
    return errno === 0 || errnoName(errno) === "EAGAIN" ? null : errnoName(errno);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? "probe failed";
  } finally {
    await src?.close().catch(() => undefined);
    await dest?.close().catch(() => undefined);
    await unlink(`${base}.a`).catch(() => undefined);
    await unlink(`${base}.b`).catch(() => undefined);
  }
}
