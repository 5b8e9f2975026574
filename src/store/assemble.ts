// Building a new archive file in .hashrelay/tmp from staged and reused members, then moving it into place.
import { createHash } from "node:crypto";
import { mkdir, open, stat, unlink, type FileHandle } from "node:fs/promises";
import type { Stats } from "node:fs";
import { HashRelayError } from "../errors.ts";
import { fsyncDir, renameDurable } from "../io/atomic-file.ts";
import { deflateRaw, zstdFrame } from "../io/compress.ts";
import { encodeGzipMember, inflateMember } from "../archive/gzip-member.ts";
import { encodeZstdMember, isZstdMember } from "../archive/zstd-member.ts";
import type { ArchiveFormat } from "../archive/naming.ts";
import { sha256 } from "./archive-file.ts";
import { MemberTable } from "./member-table.ts";
import { pathExists, type StoreLayout } from "./layout.ts";

/** Members lying end to end in one file are read, checked and written together, up to this many bytes. */
export const READ_RUN = 4 * 1024 * 1024;
/** Run buffers in flight: one being read, one being checked, one being written. */
const BUFFERS = 3;
/** Bytes written between two early datasyncs (in the background, one at a time; the final fsync stays). */
const EARLY_SYNC = 8 * 1024 * 1024;

/** Where member `index` of the new archive comes from: a staging file or a stored archive of this client. */
export interface MemberSource {
  index: number;
  id: Uint8Array;
  rawLength: number;
  path: string;
  /** What `path` is, for messages ("web01/backup-….tar.gz", "staging file … of web01"). */
  label: string;
  offset: number;
  length: number;
  /** SHA-256 of the member's bytes, recorded when it was verified (on arrival, at a scan, at a commit). */
  sha256: Uint8Array;
}

export interface AssembleArgs {
  client: string;
  name: string;
  /** Path of the temp file to create (must not exist), under .hashrelay/tmp. */
  tmp: string;
  sources: readonly MemberSource[];
  /** The archive's member format: a reused member of the other format is re-encoded (after a client.compression change). */
  format: ArchiveFormat;
}

/** Sources [first, end) lie end to end in `path` from `offset`, `length` bytes in all. */
interface Run {
  first: number;
  end: number;
  path: string;
  offset: number;
  length: number;
}

/** Cuts `sources` into runs of members that lie end to end in one file, each at most READ_RUN bytes (or one member). */
export function planRuns(sources: readonly MemberSource[]): Run[] {
  const runs: Run[] = [];
  let run: Run | null = null;
  for (const [at, s] of sources.entries()) {
    if (run && s.path === run.path && s.offset === run.offset + run.length && run.length + s.length <= READ_RUN) {
      run.end = at + 1;
      run.length += s.length;
      continue;
    }
    run = { first: at, end: at + 1, path: s.path, offset: s.offset, length: s.length };
    runs.push(run);
  }
  return runs;
}

/**
 * Writes the members in order to `tmp` and fsyncs it (an ArchiveAssembler given every member at once).
 * Throws as ArchiveAssembler.append; on any failure `tmp` is removed. Returns the new file's members and hash.
 */
export async function assembleArchive(args: AssembleArgs): Promise<AssembledArchive> {
  const assembler = await ArchiveAssembler.create(args.name, args.tmp, args.format);
  try {
    await assembler.append(args.sources);
    return await assembler.finish();
  } catch (err) {
    await assembler.discard();
    throw err;
  }
}

export interface AssembledArchive {
  members: MemberTable;
  fileSha256: string;
  size: number;
}

/**
 * A new archive file being written in order, batch after batch of members, before the whole list is
 * known: the server starts on an upload's first pages while the client is still reading its files.
 * Every member read is hashed and compared with the SHA-256 recorded when it was verified against
 * its chunk id before any of its bytes are written (a full inflate is the scrub's job,
 * Store.verifyArchive).
 *
 * Members lying end to end in one file (most of them: the previous archive's unchanged runs, an
 * upload's staging file) are read as one run into a reused buffer and written from it as they are;
 * the next run is read and the previous one written while a run is hashed. Writes of one batch may
 * still be in flight when the next batch starts; finish() waits for all of them, then fsyncs.
 */
export class ArchiveAssembler {
  private readonly hash = createHash("sha256");
  private readonly members = new MemberTable();
  private readonly inputs = new Map<string, FileHandle>();
  private readonly buffers: Uint8Array[] = [];
  /** What each buffer is still busy with (its last write); a buffer is read into only once that settled. */
  private readonly busy: Promise<unknown>[] = [];
  private readonly inFlight = new Set<Promise<unknown>>();
  private runsDone = 0;
  private position = 0;
  private synced = 0;
  private syncing: Promise<unknown> | null = null;
  private closed = false;
  /** Members written so far. */
  count = 0;

  private constructor(
    private readonly name: string,
    readonly tmp: string,
    private readonly format: ArchiveFormat,
    private readonly out: FileHandle,
  ) {}

  /** Creates `tmp` (it must not exist). */
  static async create(name: string, tmp: string, format: ArchiveFormat): Promise<ArchiveAssembler> {
    return new ArchiveAssembler(name, tmp, format, await open(tmp, "wx", 0o640));
  }

  /** Bytes of the file so far. */
  get size(): number {
    return this.position;
  }

  /**
   * Appends `sources` in order. Calls must not overlap. Throws HASH_MISMATCH when a member's bytes
   * changed since they were verified, STORAGE on short reads, fs errors otherwise; the assembler is
   * then of no further use (discard it).
   */
  async append(sources: readonly MemberSource[]): Promise<void> {
    if (this.closed) throw new HashRelayError("INTERNAL", `assembly of ${this.name} is already finished`);
    const runs = planRuns(sources);
    const read = (k: number) => this.track(this.readRun(runs[k]!, sources[runs[k]!.first]!.label, this.runsDone + k));
    let next = runs.length > 0 ? read(0) : null;
    try {
      for (const [k, run] of runs.entries()) {
        const bytes = await next!;
        next = k + 1 < runs.length ? read(k + 1) : null;
        this.writeRun(bytes, sources.slice(run.first, run.end), this.runsDone + k);
      }
    } finally {
      this.runsDone += runs.length;
    }
    this.count += sources.length;
  }

  /** Waits for every write, fsyncs and closes the file. Returns its members and hash. */
  async finish(): Promise<AssembledArchive> {
    await Promise.all(this.inFlight);
    this.closed = true;
    await this.out.sync();
    await this.closeFiles();
    return { members: this.members, fileSha256: this.hash.digest("hex"), size: this.position };
  }

  /** Closes and removes the file. Never throws. */
  async discard(): Promise<void> {
    this.closed = true;
    await Promise.allSettled(this.inFlight);
    await this.closeFiles();
    await unlink(this.tmp).catch(() => undefined);
  }

  /** Closes the output and every input file. Never throws. */
  private async closeFiles(): Promise<void> {
    await this.out.close().catch(() => undefined);
    for (const handle of this.inputs.values()) await handle.close().catch(() => undefined);
    this.inputs.clear();
  }

  /** Returns `p`, counted in flight until it settles (finish and discard wait for those). */
  private track<T>(p: Promise<T>): Promise<T> {
    this.inFlight.add(p);
    void p.then(
      () => this.inFlight.delete(p),
      () => this.inFlight.delete(p),
    );
    return p;
  }

  /** Reads run number `serial` (counted over the assembler's life: it picks the buffer) into its buffer. */
  private async readRun(run: Run, label: string, serial: number): Promise<Uint8Array> {
    const slot = serial % BUFFERS;
    await this.busy[slot];
    if ((this.buffers[slot]?.length ?? -1) < run.length) this.buffers[slot] = new Uint8Array(Math.max(READ_RUN, run.length));
    let handle = this.inputs.get(run.path);
    if (!handle) {
      handle = await open(run.path, "r");
      this.inputs.set(run.path, handle);
    }
    return readInto(handle, this.buffers[slot]!.subarray(0, run.length), run.offset, label);
  }

  /** Checks the members of one run read into `bytes` and queues their write. */
  private writeRun(bytes: Uint8Array, sources: readonly MemberSource[], serial: number): void {
    const format = this.format;
    const runStart = this.position;
    const parts: Uint8Array[] = [];
    let reencoded = false;
    let within = 0;
    for (const source of sources) {
      let member = bytes.subarray(within, within + source.length);
      within += source.length;
      let digest = sha256(member);
      if (!Buffer.from(digest).equals(Buffer.from(source.sha256))) {
        throw new HashRelayError(
          "HASH_MISMATCH",
          `chunk ${source.index} of ${this.name}, reused from ${source.label} at byte ${source.offset}, does not match its id`,
          "those stored bytes changed since they were verified (they were left as they are); the new archive was not stored",
        );
      }
      if (isZstdMember(member, 0) !== (format === "tar.zst")) {
        const raw = inflateMember(member, source.rawLength);
        member = format === "tar.zst" ? encodeZstdMember(raw, zstdFrame) : encodeGzipMember(raw, deflateRaw);
        digest = sha256(member);
        reencoded = true;
      }
      parts.push(member);
      this.members.push(source.id, this.position, member.length, source.rawLength, digest);
      this.position += member.length;
    }
    // Re-encoded members (a format change, rare) no longer fit the run's buffer: that run is copied.
    const output = reencoded ? Buffer.concat(parts) : bytes;
    this.hash.update(output);
    const writing = this.track(writeAll(this.out, output, runStart));
    this.busy[serial % BUFFERS] = writing;
    if (!this.syncing && this.position - this.synced >= EARLY_SYNC) {
      // The disk starts on what is written while the rest is assembled: the final fsync has less left to do.
      this.synced = this.position;
      const early = this.track(writing.then(() => this.out.datasync()));
      this.syncing = early;
      void early.then(
        () => (this.syncing = null),
        () => (this.syncing = null),
      );
    }
  }
}

/** Reads exactly `into.length` bytes at `position` into `into` and returns it; throws STORAGE naming `what` on a short read. */
async function readInto(handle: FileHandle, into: Uint8Array, position: number, what: string): Promise<Uint8Array> {
  let done = 0;
  while (done < into.length) {
    const { bytesRead } = await handle.read(into, done, into.length - done, position + done);
    if (bytesRead === 0) throw new HashRelayError("STORAGE", `${what}: file ends before byte ${position + into.length}`);
    done += bytesRead;
  }
  return into;
}

/** Writes all of `bytes` at `position` of `out` (a write may be short). Throws fs errors. */
async function writeAll(out: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) done += (await out.write(bytes, done, bytes.length - done, position + done)).bytesWritten;
}

/**
 * Moves the complete, fsynced `tmp` to `<root>/<client>/<file>` (creating the client folder) and
 * fsyncs the folders. Never replaces an existing file: throws STORAGE if one is there. On failure
 * `tmp` is removed. Returns the stored file's stats.
 */
export async function installArchive(layout: StoreLayout, client: string, file: string, tmp: string): Promise<Stats> {
  const final = layout.archivePath(client, file);
  try {
    const created = await mkdir(layout.clientDir(client), { recursive: true, mode: 0o750 });
    if (created) await fsyncDir(layout.root);
    if (await pathExists(final)) {
      throw new HashRelayError("STORAGE", `${client}/${file} already exists`, "a stored archive is never overwritten");
    }
    await renameDurable(tmp, final);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  return stat(final);
}
