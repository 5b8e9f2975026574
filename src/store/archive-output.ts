// The new archive file as it grows, in order: its position, its pieces digest, its member table, its writes in flight.
import { createHash, type Hash } from "node:crypto";
import type { FileHandle } from "node:fs/promises";
import { HashRelayError } from "../errors.ts";
import { EMPTY_SHA256, PiecesHasher } from "../archive/pieces-digest.ts";
import { MemberTable, type ReusedFrom } from "./member-table.ts";

/** Bytes written between two early datasyncs (in the background, one at a time; the final fsync stays). */
const EARLY_SYNC = 8 * 1024 * 1024;

/**
 * The new file grows here in file order: `emit` for bytes the server writes, `skip` for bytes the file
 * system already put there (a clone). Its pieces digest (PROTOCOL.md §7.3) comes from what is declared
 * of them, never from reading the file: `fillers` hashes the fillers it writes, `member` takes each
 * member's length and SHA-256 (checked by whoever declares it). Writes are positional and run in the
 * background; `settled` waits for them.
 */
export class ArchiveOutput {
  private readonly pieces = new PiecesHasher();
  /** The fillers written since the last member: their SHA-256 so far and their length. */
  private fillerHash: Hash | null = null;
  private fillerBytes = 0;
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

  /** Appends `bytes` (written in the background); returns the write, settled once on disk. Throws nothing itself. */
  emit(bytes: Uint8Array): Promise<void> {
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

  /** Counts `length` bytes as the next bytes of the file without writing them: a clone put them there. */
  skip(length: number): void {
    this.position += length;
  }

  /** Appends fillers (emit), hashed for the pieces digest as the fillers before the next member. */
  fillers(bytes: Uint8Array): Promise<void> {
    this.fillerHash ??= createHash("sha256");
    this.fillerHash.update(bytes);
    this.fillerBytes += bytes.length;
    return this.emit(bytes);
  }

  /**
   * Records the next member of the file, at `offset`, `length` bytes hashing to `sha256` (and to `xxh3`,
   * memberXxh3, when known), in the member table and the pieces digest (its bytes are emitted or skipped
   * apart); `from`: where a member reused unchanged was (its index row then is a span's, MemberTable.push).
   * Throws INTERNAL unless it starts right after the previous member and the fillers since.
   */
  member(
    id: Uint8Array,
    offset: number,
    length: number,
    rawLength: number,
    sha256: Uint8Array,
    from?: ReusedFrom,
    xxh3?: Uint8Array,
  ): void {
    if (offset !== this.pieces.covered + this.fillerBytes)
      throw new HashRelayError("INTERNAL", `member at byte ${offset}, expected at ${this.pieces.covered + this.fillerBytes}`);
    const fillers = this.fillerHash ? new Uint8Array(this.fillerHash.digest()) : EMPTY_SHA256;
    this.pieces.add({ length: this.fillerBytes, sha256: fillers }, { length, sha256 });
    this.members.push(id, offset, length, rawLength, sha256, from, xxh3);
    this.fillerHash = null;
    this.fillerBytes = 0;
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

  /** Hex pieces digest of the file (call once, at the end). Throws INTERNAL when its members do not cover every byte, ending it. */
  digest(): string {
    if (this.pieces.covered !== this.position || this.fillerBytes > 0)
      throw new HashRelayError("INTERNAL", `the members cover ${this.pieces.covered} of ${this.position} bytes`);
    return this.pieces.digest();
  }
}

/** Writes all of `bytes` at `position` of `out` (a write may be short). Throws fs errors. */
async function writeAll(out: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) done += (await out.write(bytes, done, bytes.length - done, position + done)).bytesWritten;
}
