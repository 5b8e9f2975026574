// The members of one archive in fixed 93-byte records, paged: full pages go to a spool file, so millions of members cost one page of RAM.
import { closeSync, openSync, readSync, unlinkSync, writeSync } from "node:fs";
import { chunkIdHex } from "../archive/manifest.ts";
import type { MemberRecord } from "./index-entry.ts";

/** Records per page: 5.8 MiB. */
export const MEMBER_PAGE = 65_536;
/**
 * One record: chunk id (32), SHA-256 of the member's bytes (32), offset (f64), member length (u32), raw
 * length (u32), member index (u32), XXH3-64 of the member's bytes (8), 1 when that is known (u8).
 */
const RECORD = 93;

/** One page of records, read in place. */
export class MemberPage {
  private readonly view: DataView;

  constructor(
    /** Number of the page's first record in the table. */
    readonly first: number,
    readonly count: number,
    private readonly bytes: Uint8Array,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  // Record `first + k`'s fields; ids and SHA-256s are views (copy them to keep them).
  id(k: number): Uint8Array {
    return this.bytes.subarray(k * RECORD, k * RECORD + 32);
  }
  sha256(k: number): Uint8Array {
    return this.bytes.subarray(k * RECORD + 32, k * RECORD + 64);
  }
  offset(k: number): number {
    return this.view.getFloat64(k * RECORD + 64, true);
  }
  length(k: number): number {
    return this.view.getUint32(k * RECORD + 72, true);
  }
  rawLength(k: number): number {
    return this.view.getUint32(k * RECORD + 76, true);
  }
  /** The member's index in its archive (its seq). */
  index(k: number): number {
    return this.view.getUint32(k * RECORD + 80, true);
  }
  /** The XXH3-64 of the member's bytes (memberXxh3), null when it was not recorded. */
  xxh3(k: number): Uint8Array | null {
    return this.bytes[k * RECORD + 92] === 1 ? this.bytes.subarray(k * RECORD + 84, k * RECORD + 92) : null;
  }
}

/** Where a reused member came from: its archive's row id in the index, its seq there, its offset in that archive's file. */
export interface ReusedFrom {
  archive: number;
  seq: number;
  offset: number;
}

/** Members [first, first + count) of the table are rows [seq, seq + count) of index archive `archive`, each `shift` bytes further on. */
export interface ReusedRun {
  first: number;
  count: number;
  archive: number;
  seq: number;
  shift: number;
}

/**
 * The members of one archive: one record per member (chunk id, offset in the file, member length, raw
 * length, SHA-256 of the member's bytes, its index), except members reused unchanged from a stored
 * archive, which are kept as runs (`reused`): an archive that reuses most of its predecessor costs a
 * few records, not one per member. Records i are members i where nothing is reused. With a spool path,
 * every full page is appended to that file (created at the first) and read back a page at a time;
 * without one, pages stay in memory. Call dispose() when done with a spooled table.
 */
export class MemberTable {
  /** Members in all. */
  count = 0;
  /** Records (the members not in `reused`). */
  rows = 0;
  /** Stretches of members reused unchanged (bytes and hash) from a stored archive, in table order: the index records each as a span. */
  readonly reused: ReusedRun[] = [];
  private readonly full: Uint8Array[] = [];
  private spooled = 0;
  private spoolFd: number | null = null;
  private current: Uint8Array;
  private cached: MemberPage | null = null;

  constructor(
    private readonly spoolPath?: string,
    private readonly pageSize = MEMBER_PAGE,
  ) {
    this.current = new Uint8Array(Math.min(pageSize, 1024) * RECORD);
  }

  /**
   * Appends a member (`xxh3`: memberXxh3 of its bytes, when known); `from` when it is a stored archive's member reused with the very same bytes (it
   * joins the last reused run when it follows it there and here). Throws fs errors when the spool file cannot be written.
   */
  push(id: Uint8Array, offset: number, length: number, rawLength: number, sha256: Uint8Array, from?: ReusedFrom, xxh3?: Uint8Array): void {
    if (from) {
      this.noteReused(offset, from);
      this.count++;
      return;
    }
    const k = this.rows % this.pageSize;
    if (k === 0 && this.rows > 0) this.pageFull();
    if ((k + 1) * RECORD > this.current.length) this.growCurrent();
    const at = k * RECORD;
    this.current.set(id.subarray(0, 32), at);
    this.current.set(sha256.subarray(0, 32), at + 32);
    const view = new DataView(this.current.buffer, this.current.byteOffset + at, RECORD);
    view.setFloat64(64, offset, true);
    view.setUint32(72, length, true);
    view.setUint32(76, rawLength, true);
    view.setUint32(80, this.count, true);
    if (xxh3) this.current.set(xxh3.subarray(0, 8), at + 84);
    this.current[at + 92] = xxh3 ? 1 : 0;
    this.count++;
    this.rows++;
  }

  // Record i's fields (random access reads its page from the spool when it is not the last one read).
  id(i: number): Uint8Array {
    return this.pageOf(i).id(i % this.pageSize);
  }
  sha256(i: number): Uint8Array {
    return this.pageOf(i).sha256(i % this.pageSize);
  }
  xxh3(i: number): Uint8Array | null {
    return this.pageOf(i).xxh3(i % this.pageSize);
  }
  offset(i: number): number {
    return this.pageOf(i).offset(i % this.pageSize);
  }
  length(i: number): number {
    return this.pageOf(i).length(i % this.pageSize);
  }
  rawLength(i: number): number {
    return this.pageOf(i).rawLength(i % this.pageSize);
  }

  /** The pages in order (a spooled page is read when reached; a page is valid until the next is read). */
  *pages(): Generator<MemberPage> {
    const pages = Math.ceil(this.rows / this.pageSize);
    for (let p = 0; p < pages; p++) yield this.page(p);
  }

  /** The records as an index entry's [id hex, offset, length, raw length] records (every one in memory: for small tables). */
  records(): MemberRecord[] {
    const out: MemberRecord[] = [];
    for (const page of this.pages())
      for (let k = 0; k < page.count; k++) out.push([chunkIdHex(page.id(k)), page.offset(k), page.length(k), page.rawLength(k)]);
    return out;
  }

  /** Counts member `count` (at `offset` here) as reused from `from`. */
  private noteReused(offset: number, from: ReusedFrom): void {
    const shift = offset - from.offset;
    const last = this.reused.at(-1);
    if (
      last &&
      last.first + last.count === this.count &&
      last.archive === from.archive &&
      last.seq + last.count === from.seq &&
      last.shift === shift
    )
      last.count++;
    else this.reused.push({ first: this.count, count: 1, archive: from.archive, seq: from.seq, shift });
  }

  /** Closes and removes the spool file, if any; the table is empty afterwards. Never throws. */
  dispose(): void {
    if (this.spoolFd !== null) {
      try {
        closeSync(this.spoolFd);
        unlinkSync(this.spoolPath!);
      } catch {
        // a leftover in .hashrelay/tmp is removed at the next open
      }
    }
    this.spoolFd = null;
    this.full.length = 0;
    this.reused.length = 0;
    this.count = 0;
    this.rows = 0;
    this.spooled = 0;
    this.cached = null;
  }

  /** The page holding record i. */
  private pageOf(i: number): MemberPage {
    const p = Math.floor(i / this.pageSize);
    return this.cached?.first === p * this.pageSize ? this.cached : this.page(p);
  }

  /** Page number p: the current page, one kept in memory, or one read back from the spool (then cached). */
  private page(p: number): MemberPage {
    const first = p * this.pageSize;
    const count = Math.min(this.pageSize, this.rows - first);
    if (first + count === this.rows && this.rows % this.pageSize !== 0) return new MemberPage(first, count, this.current);
    if (p >= this.spooled) return new MemberPage(first, count, this.full[p - this.spooled] ?? this.current);
    if (this.cached?.first === first) return this.cached;
    const bytes = new Uint8Array(this.pageSize * RECORD);
    let done = 0;
    while (done < bytes.length) {
      const read = readSync(this.spoolFd!, bytes, done, bytes.length - done, p * bytes.length + done);
      if (read === 0) break;
      done += read;
    }
    this.cached = new MemberPage(first, count, bytes);
    return this.cached;
  }

  /** The current page is full: spooled (or kept), and a fresh one begun. */
  private pageFull(): void {
    if (this.spoolPath === undefined) this.full.push(this.current);
    else {
      this.spoolFd ??= openSync(this.spoolPath, "wx+", 0o600);
      let done = 0;
      while (done < this.current.length)
        done += writeSync(this.spoolFd, this.current, done, this.current.length - done, this.spooled * this.current.length + done);
      this.spooled++;
    }
    this.current = new Uint8Array(this.pageSize * RECORD);
  }

  /** Doubles the current page's room (a table starts small). */
  private growCurrent(): void {
    const grown = new Uint8Array(Math.min(this.pageSize, (this.current.length / RECORD) * 2) * RECORD);
    grown.set(this.current);
    this.current = grown;
  }
}
