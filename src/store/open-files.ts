// Archive files kept open between blocking reads of single members (Store.readChunk).
import { closeSync, openSync, readSync } from "node:fs";
import { HashRelayError } from "../errors.ts";

/** Archive files kept open between reads (Store.readChunk), at most MAX_OPEN of them; close() when done. */
export class OpenFiles {
  private static readonly MAX_OPEN = 8;
  private readonly fds = new Map<string, number>();

  /** Exactly `length` bytes of `path` at `position`, read with blocking calls; STORAGE naming `what` on a short read, fs errors otherwise. */
  read(path: string, position: number, length: number, what: string): Uint8Array {
    let fd = this.fds.get(path);
    if (fd === undefined) {
      if (this.fds.size >= OpenFiles.MAX_OPEN) this.closeOne(this.fds.keys().next().value!);
      fd = openSync(path, "r");
      this.fds.set(path, fd);
    }
    const out = new Uint8Array(length);
    for (let done = 0; done < length; ) {
      const got = readSync(fd, out, done, length - done, position + done);
      if (got === 0) throw new HashRelayError("STORAGE", `${what}: file ends before byte ${position + length}`);
      done += got;
    }
    return out;
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
