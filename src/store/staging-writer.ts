// One upload's staging file: verified chunk members appended in arrival order, where each landed, and the bytes still to write.
import { randomBytes } from "node:crypto";
import { mkdir, open, type FileHandle } from "node:fs/promises";
import type { HashRelayError } from "../errors.ts";
import { memberXxh3, sha256 } from "./archive-file.ts";
import type { StoreLayout } from "./layout.ts";
import type { PoolMember } from "./staging-pool.ts";
import { asStorageError } from "./storage-error.ts";

/** Where the member of one entry sits in the staging file. */
export interface StagedMember {
  offset: number;
  length: number;
  /** SHA-256 of the member's bytes as written. */
  sha256: Uint8Array;
  /** XXH3-64 of the member's bytes as written (memberXxh3): what the commit's copy checks them by. */
  xxh3: Uint8Array;
}

/** The staging file an upload made and the members written to it (in file order); null when it made none. */
export type StagingOutcome = { path: string; members: PoolMember[] } | null;

/**
 * Asked before each member is written, with its length: resolves when the room is there, throws
 * (NO_SPACE, QUOTA) when it is not (see space-guard.ts).
 */
export type StagingRoom = (bytes: number) => Promise<void>;

/**
 * Writes members to `<root>/.hashrelay/staging/<client>/<random>.part` (created at the first one),
 * one at a time in the order they were given, each once `room` allowed it. A failure (no room, a
 * write error) is kept (`failure`) and every later write skipped: the upload reports it at its next
 * chunk or at commit. A member torn by a failed write is cut off again, so the file stays whole members.
 */
export class StagingWriter {
  readonly path: string;
  private handle: Promise<FileHandle> | null = null;
  private size = 0;
  private writes: Promise<void> = Promise.resolve();
  private unwritten = 0;
  private error: HashRelayError | null = null;
  private readonly staged = new Map<number, StagedMember>();
  /** Members whose write completed, in file order. */
  private readonly written: PoolMember[] = [];

  constructor(
    private readonly layout: StoreLayout,
    private readonly client: string,
    /** The source's name, for messages. */
    private readonly name: string,
    private readonly room: StagingRoom = async () => undefined,
  ) {
    this.path = layout.stagingPath(client, `${randomBytes(8).toString("hex")}.part`);
  }

  /** Bytes (before compression) of members given but not yet written. */
  get backlog(): number {
    return this.unwritten;
  }

  /** The first failure (NO_SPACE or QUOTA: no room; STORAGE, NO_SPACE: a write error), or null. */
  get failure(): HashRelayError | null {
    return this.error;
  }

  /** Where entry `index`'s member was written, or undefined until its write completed. */
  stagedAt(index: number): StagedMember | undefined {
    return this.staged.get(index);
  }

  /**
   * Queues the write of entry `index`'s member (`bytes` long before compression, counted in the
   * backlog until written; `member` may still be being made). `id` and `rawLength` are the entry's.
   * `written` is called once the member is in the file. The promise resolves when this write is
   * done and never rejects: a failure is kept in `failure`.
   */
  append(
    index: number,
    id: Uint8Array,
    rawLength: number,
    bytes: number,
    member: Uint8Array | Promise<Uint8Array>,
    written: () => void,
  ): Promise<void> {
    this.unwritten += bytes;
    if (member instanceof Promise) member.catch(() => undefined); // awaited in turn below
    this.writes = this.writes.then(async () => {
      try {
        if (this.error) return;
        const bytesOf = await member;
        await this.room(bytesOf.length);
        const offset = this.size;
        const digest = sha256(bytesOf);
        const xxh3 = memberXxh3(bytesOf);
        await this.write(bytesOf, offset);
        this.size += bytesOf.length;
        this.staged.set(index, { offset, length: bytesOf.length, sha256: digest, xxh3 });
        this.written.push({ id: id.slice(), offset, length: bytesOf.length, rawLength, sha256: digest, xxh3 });
        written();
      } catch (err) {
        this.error = asStorageError(err, `cannot stage chunks of ${this.name} for ${this.client}`);
      } finally {
        this.unwritten -= bytes;
      }
    });
    return this.writes;
  }

  /** Writes `bytes` at `offset`; on failure cuts the file back to `offset` (best effort) and throws the failure. */
  private async write(bytes: Uint8Array, offset: number): Promise<void> {
    const handle = await this.openFile();
    try {
      let done = 0;
      while (done < bytes.length) done += (await handle.write(bytes, done, bytes.length - done, offset + done)).bytesWritten;
    } catch (err) {
      await handle.truncate(offset).catch(() => undefined);
      throw err;
    }
  }

  /** Resolves once every write queued so far is done (never rejects). */
  settled(): Promise<void> {
    return this.writes;
  }

  /** Closes the file and says which members it contains, for the staging pool; queued writes are not awaited. Never throws. */
  async close(): Promise<StagingOutcome> {
    if (!this.handle) return null;
    try {
      await (await this.handle).close();
    } catch {
      // opening failed: nothing to close
    }
    return { path: this.path, members: this.written };
  }

  /** The staging file, created (with its folder) on first use; a failure rejects every write after. */
  private openFile(): Promise<FileHandle> {
    this.handle ??= (async () => {
      await mkdir(this.layout.stagingDir(this.client), { recursive: true, mode: 0o750 });
      return open(this.path, "wx+", 0o640);
    })();
    return this.handle;
  }
}
