// Copying members into the new archive: read in runs, each checked against the hash recorded when it was verified, then written.
import { open, type FileHandle } from "node:fs/promises";
import { HashRelayError } from "../errors.ts";
import { deflateRaw, zstdFrame } from "../io/compress.ts";
import { encodeGzipMember, inflateMember } from "../archive/gzip-member.ts";
import { encodeZstdMember, isZstdMember } from "../archive/zstd-member.ts";
import type { ArchiveFormat } from "../archive/naming.ts";
import { memberXxh3, sha256 } from "./archive-file.ts";
import { ReusedMemberDamaged } from "./damage-found.ts";
import type { ArchiveOutput } from "./archive-output.ts";
import type { StoredPlace } from "./index-rows.ts";

/** Members lying end to end in one file are read, checked and written together, up to this many bytes. */
export const READ_RUN = 4 * 1024 * 1024;
/** Run buffers in flight: one being read, one being checked, one being written. */
const BUFFERS = 3;

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
  /** XXH3-64 of the member's bytes (memberXxh3), recorded beside its SHA-256 when it was first written or scanned; absent in older rows. */
  xxh3?: Uint8Array;
  /** Its place in the index when `path` is a stored archive (absent for a staging file): seq and seq + 1 follow each other there. */
  stored?: StoredPlace;
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

/** The files members are read from, opened once each for one assembly. */
export class InputFiles {
  private readonly handles = new Map<string, FileHandle>();

  /** `path` opened for reading (kept open until close()). Throws fs errors. */
  async get(path: string): Promise<FileHandle> {
    let handle = this.handles.get(path);
    if (!handle) {
      handle = await open(path, "r");
      this.handles.set(path, handle);
    }
    return handle;
  }

  /** Closes every file. Never throws. */
  async close(): Promise<void> {
    for (const handle of this.handles.values()) await handle.close().catch(() => undefined);
    this.handles.clear();
  }
}

/**
 * Throws HASH_MISMATCH (naming chunk `source.index` of `name`) unless `member` has the XXH3-64 recorded
 * for it, or without one its SHA-256: ReusedMemberDamaged for a member of a stored archive (the commit
 * heals it), a plain one for a staging file's. Returns the member's XXH3-64 when it was checked by it.
 * Either hash was recorded from bytes checked against their chunk id; a copy asks only whether these bytes
 * are still those (PROTOCOL.md §10 step 6), and XXH3 answers that ~3x cheaper than SHA-256 here.
 */
export function checkReused(name: string, source: MemberSource, member: Uint8Array): Uint8Array | undefined {
  const xxh3 = source.xxh3 && memberXxh3(member);
  if (xxh3 ? Buffer.from(xxh3).equals(Buffer.from(source.xxh3!)) : Buffer.from(sha256(member)).equals(Buffer.from(source.sha256)))
    return xxh3;
  const message = `chunk ${source.index} of ${name}, reused from ${source.label} at byte ${source.offset}, does not match its id`;
  if (source.stored) throw new ReusedMemberDamaged(message, source);
  throw new HashRelayError(
    "HASH_MISMATCH",
    message,
    "those stored bytes changed since they were verified (they were left as they are); the new archive was not stored",
  );
}

/**
 * Copies members into an ArchiveOutput. Members lying end to end in one file (an upload's staging
 * file, a stored archive's run too short to clone) are read as one run into a reused buffer and
 * written from it as they are; the next run is read while one is checked and written.
 */
export class MemberCopier {
  private readonly buffers: Uint8Array[] = [];
  /** What each buffer is still busy with (its last write); a buffer is read into only once that settled. */
  private readonly busy: Promise<unknown>[] = [];
  private runsDone = 0;

  constructor(
    private readonly name: string,
    private readonly format: ArchiveFormat,
    private readonly output: ArchiveOutput,
    private readonly inputs: InputFiles,
  ) {}

  /**
   * Appends `sources` in order. Throws HASH_MISMATCH when a member's bytes changed since they were
   * verified, STORAGE on short reads, fs errors otherwise.
   */
  async copy(sources: readonly MemberSource[]): Promise<void> {
    const runs = planRuns(sources);
    const read = (k: number) => this.output.track(this.readRun(runs[k]!, sources[runs[k]!.first]!.label, this.runsDone + k));
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
  }

  /** Reads run number `serial` (counted over the copier's life: it picks the buffer) into its buffer. */
  private async readRun(run: Run, label: string, serial: number): Promise<Uint8Array> {
    const slot = serial % BUFFERS;
    await this.busy[slot];
    if ((this.buffers[slot]?.length ?? -1) < run.length) this.buffers[slot] = new Uint8Array(Math.max(READ_RUN, run.length));
    return readInto(await this.inputs.get(run.path), this.buffers[slot]!.subarray(0, run.length), run.offset, label);
  }

  /** Checks the members of one run read into `bytes` and queues their write. */
  private writeRun(bytes: Uint8Array, sources: readonly MemberSource[], serial: number): void {
    const { format, output } = this;
    const parts: Uint8Array[] = [];
    let reencoded = false;
    let within = 0;
    let position = output.position;
    for (const source of sources) {
      let member = bytes.subarray(within, within + source.length);
      within += source.length;
      let xxh3 = checkReused(this.name, source, member);
      let digest = source.sha256;
      // A stored member copied as it is: the index records it as its source's row (a span), not again.
      let from = source.stored && { archive: source.stored.archive, seq: source.stored.seq, offset: source.offset };
      if (isZstdMember(member, 0) !== (format === "tar.zst")) {
        const raw = inflateMember(member, source.rawLength);
        member = format === "tar.zst" ? encodeZstdMember(raw, zstdFrame) : encodeGzipMember(raw, deflateRaw);
        digest = sha256(member);
        xxh3 = undefined;
        reencoded = true;
        from = undefined;
      }
      parts.push(member);
      // a member the index gets a row of its own for (from a staging file, or re-encoded) records its XXH3-64 for the next copies
      if (!from) xxh3 ??= memberXxh3(member);
      output.member(source.id, position, member.length, source.rawLength, digest, from, xxh3);
      position += member.length;
    }
    // Re-encoded members (a format change, rare) no longer fit the run's buffer: that run is copied.
    this.busy[serial % BUFFERS] = output.emit(reencoded ? Buffer.concat(parts) : bytes);
  }
}

/** Reads exactly `into.length` bytes at `position` into `into` and returns it; throws STORAGE naming `what` on a short read. */
export async function readInto(handle: FileHandle, into: Uint8Array, position: number, what: string): Promise<Uint8Array> {
  let done = 0;
  while (done < into.length) {
    const { bytesRead } = await handle.read(into, done, into.length - done, position + done);
    if (bytesRead === 0) throw new HashRelayError("STORAGE", `${what}: file ends before byte ${position + into.length}`);
    done += bytesRead;
  }
  return into;
}
