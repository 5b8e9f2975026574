// The new archive file as it grows, in order: its position, its SHA-256, its member table, its writes in flight.
import { createHash } from "node:crypto";
import type { FileHandle } from "node:fs/promises";
import { MemberTable } from "./member-table.ts";

/** Bytes written between two early datasyncs (in the background, one at a time; the final fsync stays). */
const EARLY_SYNC = 8 * 1024 * 1024;

/**
 * Every byte of the new file passes here once, in file order: `emit` for bytes the server writes,
 * `skip` for bytes the file system already put there (a clone): both go into the file's SHA-256.
 * Writes are positional and run in the background; `settled` waits for them.
 */
export class ArchiveOutput {
  private readonly hash = createHash("sha256");
  readonly members: MemberTable;
  private readonly inFlight = new Set<Promise<unknown>>();
  private synced = 0;
  private syncing: Promise<unknown> | null = null;
  /** Bytes of the file so far. */
  position = 0;
  /** Bytes the server wrote (the rest was cloned). */
  written = 0;

  constructor(
    readonly out: FileHandle,
    spoolDir?: string,
  ) {
    this.members = new MemberTable(spoolDir);
  }

  /** Appends `bytes` (hashed now, written in the background); returns the write, settled once on disk. Throws nothing itself. */
  emit(bytes: Uint8Array): Promise<void> {
    this.hash.update(bytes);
    const writing = this.track(writeAll(this.out, bytes, this.position));
    this.position += bytes.length;
    this.written += bytes.length;
    if (!this.syncing && this.written - this.synced >= EARLY_SYNC) {
      // The disk starts on what is written while the rest is assembled: the final fsync has less left to do.
      this.synced = this.written;
      const early = this.track(writing.then(() => this.out.datasync()));
      this.syncing = early;
      void early.then(
        () => (this.syncing = null),
        () => (this.syncing = null),
      );
    }
    return writing;
  }

  /** Counts `bytes` as the next bytes of the file without writing them: a clone put them there. */
  skip(bytes: Uint8Array): void {
    this.hash.update(bytes);
    this.position += bytes.length;
  }

  /** Returns `p`, counted in flight until it settles (settled() waits for those). */
  track<T>(p: Promise<T>): Promise<T> {
    this.inFlight.add(p);
    void p.then(
      () => this.inFlight.delete(p),
      () => this.inFlight.delete(p),
    );
    return p;
  }

  /** Waits for every write in flight; throws the first failure. */
  async settled(): Promise<void> {
    await Promise.all(this.inFlight);
  }

  /** Waits for every write in flight, whatever they end with. Never throws. */
  async quiet(): Promise<void> {
    await Promise.allSettled(this.inFlight);
  }

  /** Hex SHA-256 of every byte so far (call once, at the end). */
  digest(): string {
    return this.hash.digest("hex");
  }
}

/** Writes all of `bytes` at `position` of `out` (a write may be short). Throws fs errors. */
async function writeAll(out: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) done += (await out.write(bytes, done, bytes.length - done, position + done)).bytesWritten;
}
