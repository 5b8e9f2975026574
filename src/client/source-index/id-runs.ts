// Sorts the new archive's chunk ids in bounded memory: sorted runs in temporary files, merged into the ids file.
import { closeSync, openSync, readSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { MAX_SORTED_RECORDS, compareIdRecords, recordPrefix, sameRecordId, sortIdRecords } from "../../archive/id-record-order.ts";
import { ID_RECORD_BYTES, encodeIdRecord } from "../../archive/source-index-records.ts";

/** How much an IdRunSorter may hold. */
export interface IdSortLimits {
  /** Id records held in memory before they go, sorted, to a run file (at most MAX_SORTED_RECORDS). */
  runRecords: number;
  /** Run files merged at once (at least 2): more take more passes. */
  fanIn: number;
}

/** 128 Ki records a run (6 MiB held), 128 runs a pass: one pass up to 2^24 chunks, 1 TiB of 64 KiB chunks. */
export const DEFAULT_ID_SORT: IdSortLimits = { runRecords: 128 * 1024, fanIn: 128 };

/** Whole records a run file is read by: ~32 KiB per run merged. */
const READ_RECORDS = 910;
/** Whole records a run file is written by: ~256 KiB. */
const WRITE_RECORDS = 7281;
/** Records the run starts with room for; it doubles up to runRecords. */
const FIRST_RUN_RECORDS = 1024;

/** Takes one id record (a view, valid during the call). */
type RecordSink = (record: Uint8Array) => void;

/**
 * The ids of the chunks of an archive being built, with their chunk index, sorted into the ids
 * file's records (one per distinct id, ascending, with the index of its first chunk) in bounded
 * memory. Memory: the run, at most runRecords x 48 bytes (36 a record, 8 of sort key, 4 of order:
 * 6 MiB by default; 6.75 the moment it last doubles) and a 256 KiB write buffer while it goes to its
 * file; while merging, fanIn read buffers of ~32 KiB (4 MiB by default) and the output's buffer.
 * Whatever the archive's size.
 * Disk: up to 36 bytes a chunk in run files `ids.run-N` of folder `dir` until mergeInto; ids that
 * fit in one run never touch the disk. Run files are not synced: a crash abandons the folder.
 */
export class IdRunSorter {
  private run: Uint8Array;
  private keys = new Float64Array(0);
  private held = 0;
  private readonly runFiles: string[] = [];
  private runsMade = 0;

  /** `dir`: the existing folder run files go to. Throws RangeError on limits out of range. */
  constructor(
    private readonly dir: string,
    private readonly limits: IdSortLimits = DEFAULT_ID_SORT,
  ) {
    if (!(limits.runRecords >= 1 && limits.runRecords <= MAX_SORTED_RECORDS && limits.fanIn >= 2)) {
      throw new RangeError(`id sort limits out of range: ${JSON.stringify(limits)}`);
    }
    this.run = new Uint8Array(Math.min(FIRST_RUN_RECORDS, limits.runRecords) * ID_RECORD_BYTES);
  }

  /** Bytes the sorter's own arrays hold now: at most runRecords x 44 (the order array is transient). */
  get heldBytes(): number {
    return this.run.byteLength + this.keys.byteLength;
  }

  /** Run files on disk now. */
  get runFileCount(): number {
    return this.runFiles.length;
  }

  /** Adds `id` (32 bytes) of chunk `index` (below 2^32). Throws fs errors when a full run goes to disk. */
  add(id: Uint8Array, index: number): void {
    if (this.held === this.limits.runRecords) this.spill();
    const at = this.held * ID_RECORD_BYTES;
    if (at === this.run.length) {
      const grown = new Uint8Array(Math.min(2 * this.run.length, this.limits.runRecords * ID_RECORD_BYTES));
      grown.set(this.run);
      this.run = grown;
    }
    encodeIdRecord(this.run, at, id, index);
    this.held++;
  }

  /**
   * Gives `out` one record per distinct id added, ascending by id, each with the smallest index it
   * was added with; returns how many. Removes the run files; the sorter is spent. Throws fs errors.
   */
  mergeInto(out: RecordSink): number {
    if (this.runFiles.length === 0) return this.emitRun(out);
    this.spill();
    this.run = new Uint8Array(0);
    this.keys = new Float64Array(0);
    while (this.runFiles.length > this.limits.fanIn) {
      const group = this.runFiles.splice(0, this.limits.fanIn);
      this.runFiles.push(this.toRunFile((sink) => mergeRuns(group, sink)));
      for (const file of group) rmSync(file, { force: true });
    }
    const distinct = mergeRuns(this.runFiles, out);
    for (const file of this.runFiles.splice(0)) rmSync(file, { force: true });
    return distinct;
  }

  /** Writes the run, sorted and without repeated ids, to a new run file; empties it. */
  private spill(): void {
    if (this.held === 0) return;
    this.runFiles.push(this.toRunFile((sink) => this.emitRun(sink)));
  }

  /** A new run file holding what `write` gives its sink; returns its path. */
  private toRunFile(write: (sink: RecordSink) => void): string {
    const path = join(this.dir, `ids.run-${this.runsMade++}`);
    const file = new RunWriter(path);
    try {
      write((record) => file.append(record));
      file.flush();
    } finally {
      file.close();
    }
    return path;
  }

  /** Gives `out` the run's records in order, the first of each id only; empties the run; returns how many. */
  private emitRun(out: RecordSink): number {
    if (this.keys.length < this.held) this.keys = new Float64Array(this.run.length / ID_RECORD_BYTES);
    const order = sortIdRecords(this.run, this.held, this.keys);
    const record = new Uint8Array(ID_RECORD_BYTES);
    let distinct = 0;
    for (const r of order) {
      const at = r * ID_RECORD_BYTES;
      if (distinct > 0 && sameRecordId(this.run, at, record, 0)) continue;
      copyRecord(this.run, at, record);
      out(record);
      distinct++;
    }
    this.held = 0;
    return distinct;
  }
}

/** Merges sorted run files into `out`, the first record of each id only; returns how many. Closes what it opens. */
function mergeRuns(files: string[], out: RecordSink): number {
  const readers: RunReader[] = [];
  try {
    for (const file of files) readers.push(new RunReader(file));
    const heap = new ReaderHeap(readers.filter((r) => r.advance()));
    const last = new Uint8Array(ID_RECORD_BYTES);
    let distinct = 0;
    for (let top = heap.top(); top; top = heap.top()) {
      if (distinct === 0 || !sameRecordId(top.buffer, top.at, last, 0)) {
        copyRecord(top.buffer, top.at, last);
        out(last);
        distinct++;
      }
      heap.advanceTop();
    }
    return distinct;
  } finally {
    for (const reader of readers) reader.close();
  }
}

/** Copies the record at `at` of `from` into `into` (no view made: one per record would be garbage by the million). */
function copyRecord(from: Uint8Array, at: number, into: Uint8Array): void {
  for (let i = 0; i < ID_RECORD_BYTES; i++) into[i] = from[at + i]!;
}

/** One run file read record by record through its own buffer. */
class RunReader {
  readonly buffer = new Uint8Array(READ_RECORDS * ID_RECORD_BYTES);
  /** Offset of the current record in `buffer`. */
  at = -ID_RECORD_BYTES;
  /** The current record's recordPrefix. */
  prefix = 0;
  private end = 0;
  private offset = 0;
  private fd: number | null;

  constructor(path: string) {
    this.fd = openSync(path, "r");
  }

  /** Moves to the next record; false (and the file closed) at the end. Throws fs errors. */
  advance(): boolean {
    this.at += ID_RECORD_BYTES;
    if (this.at + ID_RECORD_BYTES > this.end && !this.refill()) {
      this.close();
      return false;
    }
    this.prefix = recordPrefix(this.buffer, this.at);
    return true;
  }

  close(): void {
    if (this.fd === null) return;
    closeSync(this.fd);
    this.fd = null;
  }

  private refill(): boolean {
    if (this.fd === null) return false;
    let got = 0;
    while (got < this.buffer.length) {
      const n = readSync(this.fd, this.buffer, got, this.buffer.length - got, this.offset + got);
      if (n === 0) break;
      got += n;
    }
    this.offset += got;
    this.end = got - (got % ID_RECORD_BYTES);
    this.at = 0;
    return this.end > 0;
  }
}

/** A min-heap of readers by their current record. */
class ReaderHeap {
  constructor(private readonly items: RunReader[]) {
    for (let i = (items.length >> 1) - 1; i >= 0; i--) this.down(i);
  }

  top(): RunReader | undefined {
    return this.items[0];
  }

  /** Advances the least reader, dropping it at its end. */
  advanceTop(): void {
    if (!this.items[0]!.advance()) {
      const last = this.items.pop()!;
      if (this.items.length === 0) return;
      this.items[0] = last;
    }
    this.down(0);
  }

  private down(i: number): void {
    const items = this.items;
    for (;;) {
      let least = i;
      const left = 2 * i + 1;
      if (left < items.length && before(items[left]!, items[least]!)) least = left;
      if (left + 1 < items.length && before(items[left + 1]!, items[least]!)) least = left + 1;
      if (least === i) return;
      [items[i], items[least]] = [items[least]!, items[i]!];
      i = least;
    }
  }
}

function before(a: RunReader, b: RunReader): boolean {
  if (a.prefix !== b.prefix) return a.prefix < b.prefix;
  return compareIdRecords(a.buffer, a.at, b.buffer, b.at) < 0;
}

/** A run file being written: whole records through one buffer, no header, no sync. */
class RunWriter {
  private readonly buffer = new Uint8Array(WRITE_RECORDS * ID_RECORD_BYTES);
  private used = 0;
  private written = 0;
  private readonly fd: number;

  /** Creates `path` (0600, which must not exist). Throws fs errors. */
  constructor(path: string) {
    this.fd = openSync(path, "wx", 0o600);
  }

  append(record: Uint8Array): void {
    if (this.used + record.length > this.buffer.length) this.flush();
    this.buffer.set(record, this.used);
    this.used += record.length;
  }

  /** Closes the file, written or not; never throws. */
  close(): void {
    try {
      closeSync(this.fd);
    } catch {
      // closing is all that is left to do with it
    }
  }

  /** Writes what is buffered. Throws fs errors. */
  flush(): void {
    for (let done = 0; done < this.used; ) done += writeSync(this.fd, this.buffer, done, this.used - done, this.written + done);
    this.written += this.used;
    this.used = 0;
  }
}
