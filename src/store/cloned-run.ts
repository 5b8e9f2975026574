// A run of reused members lying end to end in one stored archive, placed in the new file at its old offset modulo the block and cloned.
import type { FileHandle } from "node:fs/promises";
import { encodeFillers, fillerGap } from "../archive/filler.ts";
import type { ArchiveFormat } from "../archive/naming.ts";
import { MAX_CHUNK_MEMBER } from "../protocol/binary-frames.ts";
import type { ArchiveOutput } from "./archive-output.ts";
import type { BlockSharing } from "./block-sharing.ts";
import { READ_RUN, checkReused, readInto, type InputFiles, type MemberSource } from "./member-copy.ts";

/**
 * A run shorter than this is copied, not cloned: so every filler starts at least this many bytes of
 * cloned data, which bounds an archive's fillers (PROTOCOL.md §8.3) — with 4 KiB blocks, one filler of
 * at most ~4 KiB per 4 MiB, 0.1% of the archive.
 */
export const MIN_CLONED_RUN = 4 * 1024 * 1024;
/** At larger blocks (ZFS records of 128 KiB), a run must be this many blocks long, for the same bound. */
const MIN_CLONED_BLOCKS = 1024;

/** The shortest run that is cloned on a file system of `blockSize` blocks. */
export function minClonedRun(blockSize: number): number {
  return Math.max(MIN_CLONED_RUN, MIN_CLONED_BLOCKS * blockSize);
}

/** What a run needs from the assembly it is part of. */
export interface RunContext {
  name: string;
  format: ArchiveFormat;
  output: ArchiveOutput;
  inputs: InputFiles;
  sharing: BlockSharing;
}

/**
 * Members [seq, seq + n) of one stored archive, added one by one while they follow each other there
 * (no filler between them). Until it reaches minClonedRun bytes the run is only collected, and a run
 * that ends shorter is handed back to be copied. Once long enough it is placed: fillers first, so
 * that it starts at its old offset modulo the block; then the partial blocks at its two ends are read
 * and written, and every whole block between cloned, never read: the new file's pieces digest takes
 * each member's recorded length and SHA-256 (archive-output.ts). The members overlapping a written
 * range (the ends, or a range the file system refused to clone) are checked against their recorded
 * SHA-256; the cloned ones are not: they are the very same blocks, checked when first verified, and
 * scrubbed by `server verify`.
 */
export class ClonedRun {
  private readonly block: number;
  private readonly start: number;
  private end: number;
  private lastSeq: number;
  /** Members not yet placed (while collecting), or placed but not yet read past (while cloning). */
  private window: { source: MemberSource; checked: boolean }[] = [];
  /** Where the run starts in the new file, once placed; null while collecting. */
  private placedAt: number | null = null;
  /** Source offset up to which bytes were read and passed on. */
  private done: number;
  private src: FileHandle | null = null;
  private buffer: Uint8Array | null = null;
  private lastWrite: Promise<void> = Promise.resolve();

  constructor(
    private readonly ctx: RunContext,
    first: MemberSource,
  ) {
    this.block = ctx.sharing.blockSize;
    this.start = first.offset;
    this.end = first.offset + first.length;
    this.lastSeq = first.stored!.seq;
    this.done = first.offset;
    this.window.push({ source: first, checked: false });
  }

  /** True for a member of a stored archive of the archive's format: a run may start with it. */
  static canStart(source: MemberSource, format: ArchiveFormat, sharing: BlockSharing): boolean {
    return sharing.cloning && source.stored !== undefined && source.path.endsWith(`.${format}`);
  }

  /**
   * True when `source`, starting a run at output `position`, fits one fetch frame together with the
   * fillers that would precede it (PROTOCOL.md §8.3: a restore receives each member with the fillers
   * before it, within the bound on a member). A run must not start with a member that does not fit.
   */
  static fitsBehindFillers(source: MemberSource, position: number, format: ArchiveFormat, blockSize: number): boolean {
    return fillerGap(position, source.offset, blockSize, format) + source.length <= MAX_CHUNK_MEMBER;
  }

  /** True when `source` is the member right after the run's last, in the same file, with no filler between. */
  continuesWith(source: MemberSource): boolean {
    const last = this.window.at(-1)?.source;
    return source.path === last?.path && source.stored?.seq === this.lastSeq + 1 && source.offset === this.end;
  }

  /** Adds the next member (continuesWith holds); places the run once it is long enough, and clones what it can. Throws as close(). */
  async add(source: MemberSource): Promise<void> {
    this.window.push({ source, checked: false });
    this.end += source.length;
    this.lastSeq = source.stored!.seq;
    if (this.placedAt === null) {
      if (this.end - this.start >= minClonedRun(this.block)) await this.place();
      return;
    }
    this.record(source);
    if (this.end - this.done >= READ_RUN + this.block) await this.advance(alignDown(this.end, this.block), Infinity);
  }

  /**
   * Ends the run: the members of a run never placed are returned, for the caller to copy; a placed
   * run is finished (its last partial block written) and [] returned. Throws HASH_MISMATCH when a
   * member it checks changed since it was verified, STORAGE on a short read, fs errors.
   */
  async close(): Promise<MemberSource[]> {
    if (this.placedAt === null) return this.window.map((w) => w.source);
    await this.advance(this.end, Math.max(alignDown(this.end, this.block), alignUp(this.start, this.block)));
    await this.lastWrite;
    return [];
  }

  /** Writes the fillers that put the run at its old offset modulo the block, and records the members collected so far. */
  private async place(): Promise<void> {
    const { output, format } = this.ctx;
    const gap = fillerGap(output.position, this.start, this.block, format);
    if (gap > 0) this.lastWrite = output.fillers(encodeFillers(gap, format));
    this.placedAt = output.position;
    for (const { source } of this.window) this.record(source);
    this.src = await this.ctx.inputs.get(this.window[0]!.source.path);
    await this.advance(alignDown(this.end, this.block), Infinity);
  }

  /** Records `source` in the new file's member table, at its place in the run. */
  private record(source: MemberSource): void {
    const at = this.placedAt! + (source.offset - this.start);
    const from = { archive: source.stored!.archive, seq: source.stored!.seq, offset: source.offset };
    this.ctx.output.member(source.id, at, source.length, source.rawLength, source.sha256, from);
  }

  /**
   * Passes the run's bytes on up to source offset `limit`, read in order: bytes before the first whole
   * block and from `tailFrom` on are written, the whole blocks between are cloned (written when the
   * file system refuses).
   */
  private async advance(limit: number, tailFrom: number): Promise<void> {
    const head = alignUp(this.start, this.block);
    while (this.done < limit) {
      let to = Math.min(limit, alignDown(this.done + READ_RUN, this.block));
      if (to <= this.done) to = limit;
      for (const cut of [head, tailFrom]) if (cut > this.done && cut < to) to = cut;
      // a cloned range is never read: its members were checked when first verified (the scrub reads them)
      const cloned = this.done >= head && to <= tailFrom && (await this.cloneRange(this.done, to));
      if (cloned) this.ctx.output.skip(to - this.done);
      else await this.write(this.done, to, await this.read(this.done, to));
      this.done = to;
      this.window = this.window.filter((w) => w.source.offset + w.source.length > this.done);
    }
  }

  /** Clones source bytes [from, to) to their place in the new file; false when the file system refused. */
  private cloneRange(from: number, to: number): Promise<boolean> {
    const dest = this.placedAt! + (from - this.start);
    return this.ctx.sharing.clone(this.src!, from, to - from, this.ctx.output.out, dest, `${this.window[0]?.source.label}`);
  }

  /** Checks the members overlapping source bytes [from, to), then writes `bytes` (those bytes). */
  private async write(from: number, to: number, bytes: Uint8Array): Promise<void> {
    for (const w of this.window) {
      const { offset, length } = w.source;
      if (w.checked || offset >= to || offset + length <= from) continue;
      const member =
        from <= offset && offset + length <= to ? bytes.subarray(offset - from, offset - from + length) : await this.member(w.source);
      checkReused(this.ctx.name, w.source, member);
      w.checked = true;
    }
    // A copy (not a view): the buffer is read into again before this write is done.
    this.lastWrite = this.ctx.output.emit(bytes.slice());
  }

  /** Source bytes [from, to), in a buffer reused from one read to the next. */
  private async read(from: number, to: number): Promise<Uint8Array> {
    if ((this.buffer?.length ?? 0) < to - from) this.buffer = new Uint8Array(Math.max(READ_RUN + this.block, to - from));
    return readInto(this.src!, this.buffer!.subarray(0, to - from), from, this.window[0]?.source.label ?? "a stored archive");
  }

  /** The whole bytes of one member of the run, read on their own (it straddles a written range's edge). */
  private member(source: MemberSource): Promise<Uint8Array> {
    return readInto(this.src!, new Uint8Array(source.length), source.offset, source.label);
  }
}

function alignDown(value: number, block: number): number {
  return value - (value % block);
}

function alignUp(value: number, block: number): number {
  return alignDown(value + block - 1, block);
}
