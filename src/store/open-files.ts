// Stored members read one at a time (Store.readChunk): archive files kept open, each member read and inflated through reused buffers.
import { closeSync, openSync, readSync } from "node:fs";
import { HashRelayError } from "../errors.ts";
import { inflateMember } from "../archive/gzip-member.ts";
import { CHUNK_MAX } from "../protocol/constants.ts";
import { ArrivalCheck } from "./arrival-check.ts";

/**
 * Archive files kept open between reads (Store.readChunk), at most MAX_OPEN of them; close() when done.
 * A session rebuilding deltas reads ~250 members of ~30 KiB in C at scale 1: a fresh zeroed buffer for
 * each member and node's one-shot inflate (a new zlib stream and output buffer per member) cost 2-3x
 * the inflating itself, so both buffers and the zlib stream are reused.
 */
export class OpenFiles {
  private static readonly MAX_OPEN = 8;
  private readonly fds = new Map<string, number>();
  private scratch = new Uint8Array(0);
  private readonly inflater = new ArrivalCheck();

  /**
   * Exactly `length` bytes of `path` at `position`, read with blocking calls into a buffer reused by the
   * next read: a view valid until then. STORAGE naming `what` on a short read, fs errors otherwise.
   */
  read(path: string, position: number, length: number, what: string): Uint8Array {
    let fd = this.fds.get(path);
    if (fd === undefined) {
      if (this.fds.size >= OpenFiles.MAX_OPEN) this.closeOne(this.fds.keys().next().value!);
      fd = openSync(path, "r");
      this.fds.set(path, fd);
    }
    if (this.scratch.length < length) this.scratch = new Uint8Array(Math.max(length, 64 * 1024));
    const out = this.scratch.subarray(0, length);
    for (let done = 0; done < length; ) {
      const got = readSync(fd, out, done, length - done, position + done);
      if (got === 0) throw new HashRelayError("STORAGE", `${what}: file ends before byte ${position + length}`);
      done += got;
    }
    return out;
  }

  /**
   * The `rawLength` raw bytes of the member `length` bytes long at `position` of `path`, in a buffer reused
   * by the next read: a view valid until then. Throws as read(); STORAGE naming `what` when the member is
   * damaged (corrupt, its CRC32 or ISIZE wrong, or not `rawLength` bytes).
   */
  readRaw(path: string, position: number, length: number, rawLength: number, what: string): Uint8Array {
    const member = this.read(path, position, length, what);
    const raw = this.inflater.rawOf(member, rawLength);
    if (raw) return raw;
    let reason = `inflates to other than its ${rawLength} indexed bytes`;
    try {
      inflateMember(member, CHUNK_MAX);
    } catch (err) {
      reason = (err as Error).message;
    }
    throw new HashRelayError("STORAGE", `${what}: member at ${position} is damaged (${reason})`);
  }

  /** Closes every file kept open; the object may be used again afterwards. Never throws. */
  close(): void {
    for (const path of [...this.fds.keys()]) this.closeOne(path);
  }

  /** Closes `path` and forgets it. Never throws. */
  private closeOne(path: string): void {
    try {
      closeSync(this.fds.get(path)!);
    } catch {
      // closing a read-only descriptor loses nothing
    }
    this.fds.delete(path);
  }
}
