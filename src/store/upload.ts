// One archive being received: manifest pages → which chunks are needed → verified chunks in staging → commit.
import { randomBytes } from "node:crypto";
import { mkdir, open, type FileHandle } from "node:fs/promises";
import { HashRelayError } from "../errors.ts";
import { ArchiveIdHasher, chunkIdHex, encodeManifestEntries, type ManifestEntry } from "../archive/manifest.ts";
import { CHUNK_MAX, MANIFEST_PAGE_ENTRIES, MAX_CHUNKS_PER_ARCHIVE, SHA256_HEX } from "../protocol/constants.ts";
import { MAX_MEMBER_BYTES, memberMatches, sha256 } from "./archive-file.ts";
import { ArchiveAssembler, installArchive, type AssembledArchive, type MemberSource } from "./assemble.ts";
import type { ArchiveRow, CatalogEntry } from "./catalog.ts";
import { StoreLayout, checkArchiveFile } from "./layout.ts";
import { isZstdMember } from "../archive/zstd-member.ts";
import type { ArchiveFormat } from "../archive/naming.ts";
import type { MemberTable } from "./member-table.ts";
import type { PoolMember } from "./staging-pool.ts";
import { asStorageError } from "./storage-error.ts";
import type { StoreLog } from "./store-log.ts";

/** What the client's signed manifest says at commit: the archive it wants stored. */
export interface UploadHeader {
  name: string;
  file: string;
  /** Hex SHA-256 of the canonical manifest. */
  archiveId: string;
  /** Number of manifest entries (chunks), 1..MAX_CHUNKS_PER_ARCHIVE. */
  chunks: number;
  /** Sum of the entries' raw lengths. */
  rawSize: number;
}

/** A member this client already holds, as a place to copy it from at commit. */
export interface HeldMember {
  path: string;
  /** What `path` is, for messages. */
  label: string;
  offset: number;
  length: number;
  rawLength: number;
  /** SHA-256 of the member's bytes, recorded when it was verified. */
  sha256: Uint8Array;
}

/** How an upload ended, for the store to keep or drop its staging file. */
export interface UploadOutcome {
  committed: boolean;
  /** The upload's staging file and the members written to it (in file order), or null when it made none. */
  staging: { path: string; members: PoolMember[] } | null;
}

/** What an upload needs from the store that owns it (implemented by Store). */
export interface UploadHost {
  readonly layout: StoreLayout;
  readonly log: StoreLog;
  now(): number;
  /**
   * Whether this client already holds chunk `id` (hex `hex`): "stored" in one of its archives, the path
   * of the staging file of its pool that holds it, or null. Never throws.
   */
  held(client: string, id: Uint8Array, hex: string): "stored" | string | null;
  /** Where to copy each chunk of `ids` from: the newest stored archive holding it, else the client's staging pool; undefined when neither. */
  sources(client: string, ids: readonly Uint8Array[]): (HeldMember | undefined)[];
  /** Runs `task` while no other commit, retention or staging sweep of this client runs. */
  withClientLock<T>(client: string, task: () => Promise<T>): Promise<T>;
  /** The entry of an archive already under its final name (scanning it if the index lacks it), or undefined. Under the lock. */
  existingEntry(client: string, file: string): Promise<CatalogEntry | undefined>;
  /** Throws NO_SPACE unless `bytes` (plus the store's margin) fit on the storage file system. */
  ensureSpace(bytes: number, what: string): Promise<void>;
  /** Records an archive just renamed into place (index, retention) and returns its entry. Under the lock; must not throw. */
  stored(row: ArchiveRow, members: MemberTable): Promise<CatalogEntry>;
  /** The member (of `format`) that raw chunk bytes compress to, made off the main thread; `raw` is handed over. */
  compress(raw: Uint8Array, format: ArchiveFormat): Promise<Uint8Array>;
  /** The upload is over (committed, failed or aborted): keep or drop its staging file, free its name. Never throws. */
  ended(upload: Upload, outcome: UploadOutcome): Promise<void>;
}

// Per-chunk state.
const REUSE = 0; // the client's stored archives or its staging pool hold it
const NEEDED = 1; // asked for, not received yet
const RECEIVED = 2; // verified; its member is being made or written to the staging file (in `staged` once written)
const DUPLICATE = 3; // a repeat of an earlier entry of this upload that is not stored yet

/**
 * The new archive is written ahead of commit once this many raw bytes of entries in a row are
 * available (held already, or arrived): the server copies the unchanged bulk while the client is
 * still reading its files, and commit has only the tail left to write.
 */
const AHEAD_BATCH_RAW = 4 * 1024 * 1024;

/** Refuses (BAD_FRAME) a header that is malformed or names a file that is not an archive of its name. */
export function checkUploadHeader(header: UploadHeader): void {
  if (typeof header !== "object" || header === null) throw new HashRelayError("BAD_FRAME", "commit without an archive header");
  checkArchiveFile(header.name, header.file);
  if (typeof header.archiveId !== "string" || !SHA256_HEX.test(header.archiveId)) {
    throw new HashRelayError("BAD_FRAME", `archive id of ${header.file} is not 64 lower-case hex digits`);
  }
  if (!Number.isSafeInteger(header.chunks) || header.chunks < 1 || header.chunks > MAX_CHUNKS_PER_ARCHIVE) {
    throw new HashRelayError("BAD_FRAME", `${header.file}: chunk count ${header.chunks} is outside 1..${MAX_CHUNKS_PER_ARCHIVE}`);
  }
  if (!Number.isSafeInteger(header.rawSize) || header.rawSize < 0 || header.rawSize > header.chunks * CHUNK_MAX) {
    throw new HashRelayError("BAD_FRAME", `${header.file}: raw size ${header.rawSize} cannot be made of ${header.chunks} chunks`);
  }
}

/**
 * One archive of source `name` being received from `client`. The client streams: it sends manifest
 * pages as it builds the archive, so the archive id and chunk count arrive only with commit().
 * Use: addManifestPage (in order), addChunk for every chunk asked for, then commit(header) — or abort(). After commit (success
 * or failure) or abort the upload is closed and every call throws BAD_FRAME.
 */
export class Upload {
  readonly client: string;
  readonly name: string;
  private header: UploadHeader | null = null;
  private readonly host: UploadHost;
  private readonly hasher: ArchiveIdHasher;
  private ids = new Uint8Array(0);
  private rawLengths = new Uint32Array(0);
  private states = new Uint8Array(0);
  private received = 0; // manifest entries so far
  private rawTotal = 0;
  private missing = 0; // NEEDED, not yet RECEIVED
  private readonly firstSeen = new Map<string, number>(); // id → first index, for ids not stored yet
  private readonly dupOf = new Map<number, number>();
  private readonly staged = new Map<number, { offset: number; length: number; sha256: Uint8Array }>();
  /** Members whose write to the staging file completed, in file order. */
  private readonly written: PoolMember[] = [];
  /** Staging files of the pool this upload counts on (they must stay until it ends). */
  private readonly pinned = new Set<string>();
  readonly stagingPath: string;
  private staging: Promise<FileHandle> | null = null;
  private stagingSize = 0;
  private writes: Promise<void> = Promise.resolve();
  /** Raw bytes of chunks accepted but not yet written to the staging file (see backlog). */
  private unwritten = 0;
  private writeError: HashRelayError | null = null;
  private closed = false;
  /** The new archive written ahead of commit, entries [0, ahead.count); null before the first batch and once given up. */
  private ahead: ArchiveAssembler | null = null;
  private aheadRunning: Promise<void> | null = null;
  private aheadAgain = false;
  private aheadGivenUp = false;

  /** Use Store.beginUpload. */
  constructor(
    host: UploadHost,
    client: string,
    name: string,
    /** Member format of the archive being built; members held in the other format are converted at assembly. */
    readonly format: ArchiveFormat = "tar.gz",
    /** Hex ids of chunks known to be in this client's stored archives (the accepted base's members): no index probe for them. */
    private readonly knownStored: ReadonlySet<string> | null = null,
  ) {
    this.host = host;
    this.client = client;
    this.name = name;
    this.hasher = new ArchiveIdHasher();
    this.stagingPath = host.layout.stagingPath(client, `${randomBytes(8).toString("hex")}.part`);
  }

  /**
   * Adds manifest entries [firstIndex, firstIndex + entries.length). Pages must come in order.
   * Returns, per entry, whether the server needs that chunk: false when this client's stored
   * archives or its staging pool (chunks of its earlier, unfinished uploads) hold it, or when it
   * repeats an earlier entry of this upload. One index probe per entry not in `knownStored`. Throws BAD_FRAME on an
   * out-of-order or oversized page, a malformed entry, or a closed upload.
   */
  addManifestPage(firstIndex: number, entries: readonly ManifestEntry[]): boolean[] {
    const file = this.name;
    this.assertOpen();
    if (firstIndex !== this.received) {
      throw new HashRelayError("BAD_FRAME", `manifest page of ${file} starts at entry ${firstIndex}, expected ${this.received}`);
    }
    if (
      !Array.isArray(entries) ||
      entries.length === 0 ||
      entries.length > MANIFEST_PAGE_ENTRIES ||
      firstIndex + entries.length > MAX_CHUNKS_PER_ARCHIVE
    ) {
      throw new HashRelayError("BAD_FRAME", `manifest page of ${file} at entry ${firstIndex}: bad entry count ${entries?.length}`);
    }
    for (const [k, entry] of entries.entries()) {
      if (!Number.isSafeInteger(entry.rawLength) || entry.rawLength < 0 || entry.rawLength > CHUNK_MAX) {
        throw new HashRelayError(
          "BAD_FRAME",
          `manifest entry ${firstIndex + k} of ${file}: raw length ${entry.rawLength} is outside 0..${CHUNK_MAX}`,
        );
      }
    }
    const encoded = encodeManifestEntries(entries, 0, entries.length); // checks id lengths
    this.grow(firstIndex + entries.length);
    this.hasher.addEncoded(encoded);
    const needed: boolean[] = [];
    for (const [k, entry] of entries.entries()) {
      const i = firstIndex + k;
      this.ids.set(entry.id, i * 32);
      this.rawLengths[i] = entry.rawLength;
      this.rawTotal += entry.rawLength;
      const hex = chunkIdHex(entry.id);
      const first = this.firstSeen.get(hex);
      const held = first === undefined ? (this.knownStored?.has(hex) ? "stored" : this.host.held(this.client, entry.id, hex)) : null;
      if (held !== null) {
        this.states[i] = REUSE;
        if (held !== "stored") this.pinned.add(held);
      } else if (first !== undefined) {
        this.states[i] = DUPLICATE;
        this.dupOf.set(i, first);
      } else {
        this.firstSeen.set(hex, i);
        this.states[i] = NEEDED;
        this.missing++;
      }
      needed.push(this.states[i] === NEEDED);
    }
    this.received += entries.length;
    this.writeAhead();
    return needed;
  }

  /**
   * Accepts the gzip member of chunk `index`. Throws synchronously: BAD_FRAME when that chunk was
   * not asked for (or already received) or the upload is closed; HASH_MISMATCH "chunk N of NAME does
   * not match its id" when the member does not inflate to exactly the entry's raw length and id —
   * nothing is stored then; STORAGE when staging already failed. The returned promise resolves once
   * the member is written to staging and never rejects: a write failure surfaces at commit().
   * `member` is written from as it is (no copy): the caller must not change it before that promise resolves.
   */
  addChunk(index: number, member: Uint8Array): Promise<void> {
    const name = this.name;
    this.expectNeeded(index);
    if (isZstdMember(member, 0) !== (this.format === "tar.zst")) {
      throw new HashRelayError(
        "BAD_FRAME",
        `chunk ${index} of ${name} is not a ${this.format === "tar.zst" ? "zstd" : "gzip"} member, as the offer announced`,
      );
    }
    if (member.length > MAX_MEMBER_BYTES || !memberMatches(member, this.idAt(index), this.rawLengths[index]!)) {
      throw new HashRelayError(
        "HASH_MISMATCH",
        `chunk ${index} of ${name} does not match its id`,
        "the client's archive changed or was damaged in transit; the next backup retries",
      );
    }
    return this.stage(index, member.length, member);
  }

  /**
   * Accepts chunk `index` as raw bytes the server rebuilt itself (from a chunk delta, PROTOCOL.md §8.6)
   * and stages the member it makes of them in the upload's format (compressed off the main thread, in
   * the background: `raw` is handed over). Throws as addChunk: BAD_FRAME when that chunk was not asked
   * for or the upload is closed, HASH_MISMATCH "chunk N of NAME does not match its id" when `raw` is
   * not exactly the entry's raw length and id (checked on `raw` itself, before anything is compressed
   * or stored), STORAGE when staging already failed. Resolves as addChunk's promise.
   */
  addRawChunk(index: number, raw: Uint8Array): Promise<void> {
    const name = this.name;
    this.expectNeeded(index);
    if (raw.length !== this.rawLengths[index] || !Buffer.from(sha256(raw)).equals(Buffer.from(this.idAt(index)))) {
      throw new HashRelayError(
        "HASH_MISMATCH",
        `chunk ${index} of ${name} does not match its id`,
        "the client's archive changed or was damaged in transit; the next backup retries",
      );
    }
    return this.stage(index, raw.length, this.host.compress(raw, this.format));
  }

  /** Throws unless chunk `index` may arrive now: BAD_FRAME when it was not asked for (or came already) or the upload is closed, STORAGE when staging failed. */
  private expectNeeded(index: number): void {
    this.assertOpen();
    if (this.writeError) throw this.writeError;
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.received || this.states[index] !== NEEDED) {
      throw new HashRelayError("BAD_FRAME", `chunk ${index} of ${this.name} was not asked for`);
    }
  }

  /**
   * Bytes of chunks accepted but not yet in the staging file (members being compressed or written). A
   * session stops reading frames while this is large (it awaits the last chunk's promise).
   */
  get backlog(): number {
    return this.unwritten;
  }

  /**
   * Records verified chunk `index` and queues the write of its member (`bytes` long before compression,
   * for the backlog) to the staging file, in arrival order (see addChunk).
   */
  private stage(index: number, bytes: number, member: Uint8Array | Promise<Uint8Array>): Promise<void> {
    const name = this.name;
    this.states[index] = RECEIVED;
    this.missing--;
    this.unwritten += bytes;
    if (member instanceof Promise) member.catch(() => undefined); // awaited in turn below
    this.writes = this.writes.then(async () => {
      try {
        if (this.writeError) return;
        const bytesOf = await member;
        const offset = this.stagingSize;
        this.stagingSize += bytesOf.length;
        const digest = sha256(bytesOf);
        const handle = await this.openStaging();
        let done = 0;
        while (done < bytesOf.length) {
          done += (await handle.write(bytesOf, done, bytesOf.length - done, offset + done)).bytesWritten;
        }
        // Staged once written: the archive written ahead reads it from the staging file.
        this.staged.set(index, { offset, length: bytesOf.length, sha256: digest });
        this.written.push({
          id: this.idAt(index).slice(),
          offset,
          length: bytesOf.length,
          rawLength: this.rawLengths[index]!,
          sha256: digest,
        });
        this.writeAhead();
      } catch (err) {
        this.writeError = asStorageError(err, `cannot stage chunks of ${name} for ${this.client}`);
      } finally {
        this.unwritten -= bytes;
      }
    });
    return this.writes;
  }

  /**
   * Verifies the whole upload and stores the archive under `<root>/<client>/<file>`, then applies
   * retention. Throws BAD_FRAME (manifest incomplete, raw size wrong, chunks missing),
   * HASH_MISMATCH (manifest does not hash to the archive id, or a reused stored member no longer
   * matches its id), NO_SPACE (free space check, ENOSPC), STORAGE (the file name holds another
   * archive; any other fs failure). When the file is already stored with this archive id, returns
   * its entry. Nothing partial is ever left under a final name. The upload is closed afterwards,
   * whatever happened; when it failed, its staged chunks join the client's staging pool.
   */
  async commit(header: UploadHeader): Promise<CatalogEntry> {
    this.assertOpen();
    this.closed = true;
    let committed = false;
    try {
      checkUploadHeader(header);
      const { name, file, chunks, rawSize, archiveId } = header;
      if (name !== this.name) throw new HashRelayError("BAD_FRAME", `commit names ${name}, the upload was offered as ${this.name}`);
      if (!file.endsWith(`.${this.format}`))
        throw new HashRelayError("BAD_FRAME", `commit names ${file}, the upload was offered as a .${this.format} archive`);
      this.header = { ...header };
      await this.writes;
      if (this.writeError) throw this.writeError;
      if (this.received !== chunks) {
        throw new HashRelayError("BAD_FRAME", `manifest of ${file} declares ${chunks} entries, ${this.received} arrived`);
      }
      if (this.rawTotal !== rawSize) {
        throw new HashRelayError("BAD_FRAME", `manifest of ${file} adds up to ${this.rawTotal} raw bytes, the offer said ${rawSize}`);
      }
      if (this.hasher.digest() !== archiveId) {
        throw new HashRelayError(
          "HASH_MISMATCH",
          `manifest of ${file} does not match its archive id ${archiveId}`,
          "the client's manifest changed or was damaged in transit; the next backup retries",
        );
      }
      if (this.missing > 0) {
        throw new HashRelayError(
          "BAD_FRAME",
          `${this.missing} chunk(s) of ${name} asked for never arrived (first: ${this.firstMissing()})`,
        );
      }
      const entry = await this.host.withClientLock(this.client, () => this.store());
      committed = true;
      return entry;
    } catch (err) {
      throw asStorageError(err, `cannot store ${this.client}/${this.name}`);
    } finally {
      await this.finish(committed);
    }
  }

  /**
   * Ends the upload without storing anything. The chunks it staged stay in the client's staging pool:
   * the next upload of this client is not asked for them again. Never throws; harmless on a closed upload.
   */
  async abort(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.writes;
    await this.finish(false);
  }

  /** Staging files of the client's pool this upload relies on, and its own. */
  filesInUse(): string[] {
    return [this.stagingPath, ...this.pinned];
  }

  /** Under the client lock: assemble in tmp, fsync, rename into place, record. */
  private async store(): Promise<CatalogEntry> {
    const { file, archiveId } = this.header!;
    const existing = await this.host.existingEntry(this.client, file);
    if (existing) {
      if (existing.archiveId === archiveId) return existing;
      throw new HashRelayError(
        "STORAGE",
        `${this.client}/${file} is already stored with other content`,
        "a stored archive is never overwritten; the next backup gets a new time stamp",
      );
    }
    const started = performance.now();
    const ahead = await this.takeAhead();
    const waitMs = Math.round(performance.now() - started);
    const assembler = ahead ?? (await this.newAssembler());
    const aheadEntries = assembler.count;
    let built: AssembledArchive;
    let appendMs = 0;
    try {
      const sources = this.plan(aheadEntries, this.received);
      await this.host.ensureSpace(
        sources.reduce((sum, s) => sum + s.length, 0),
        `${this.client}/${file}`,
      );
      await assembler.append(sources);
      appendMs = Math.round(performance.now() - started) - waitMs;
      built = await assembler.finish();
    } catch (err) {
      await assembler.discard();
      throw err;
    }
    const assembledMs = Math.round(performance.now() - started);
    const entry = await this.installFile(assembler.tmp, built, built.size);
    // For admins timing commits: what was left to write at commit (aheadEntries were written while the upload
    // ran; waitMs: the batch in progress then; appendMs: the rest; the fsync ends assembleMs).
    this.host.log("debug", "commit.assembled", {
      client: this.client,
      file,
      size: built.size,
      aheadEntries,
      entries: this.received,
      waitMs,
      appendMs,
      assembleMs: assembledMs,
      commitMs: Math.round(performance.now() - started),
    });
    return entry;
  }

  /**
   * Where each member of entries [from, to) of the new file comes from: this upload's staging file,
   * else the newest stored archive of this client holding the chunk, else its staging pool. Throws
   * STORAGE when a chunk to reuse is no longer held, HASH_MISMATCH when the held member's raw length
   * is not the entry's. Entries still NEEDED must not be in the range.
   */
  private plan(from: number, to: number): MemberSource[] {
    const sources: MemberSource[] = [];
    const stagingLabel = `staging file of ${this.name} for ${this.client}`;
    const reused: number[] = [];
    for (let i = from; i < to; i++) {
      if (!this.staged.has(this.states[i] === DUPLICATE ? this.dupOf.get(i)! : i)) reused.push(i);
    }
    const places = this.host.sources(
      this.client,
      reused.map((i) => this.idAt(i)),
    );
    let next = 0;
    for (let i = from; i < to; i++) {
      const origin = this.states[i] === DUPLICATE ? this.dupOf.get(i)! : i;
      const id = this.idAt(i);
      const rawLength = this.rawLengths[i]!;
      const staged = this.staged.get(origin);
      if (staged) {
        sources.push({ index: i, id, rawLength, path: this.stagingPath, label: stagingLabel, ...staged });
        continue;
      }
      const held = places[next++];
      if (!held) {
        throw new HashRelayError(
          "STORAGE",
          `chunk ${i} of ${this.name} is no longer stored for ${this.client}`,
          "an older archive was removed meanwhile; the next backup retries",
        );
      }
      if (held.rawLength !== rawLength) {
        throw new HashRelayError(
          "HASH_MISMATCH",
          `chunk ${i} of ${this.name}, reused from ${held.label} at byte ${held.offset}, does not match its id`,
          "the manifest entry's raw length differs from the chunk's; the new archive was not stored",
        );
      }
      sources.push({
        index: i,
        id,
        rawLength,
        path: held.path,
        label: held.label,
        offset: held.offset,
        length: held.length,
        sha256: held.sha256,
      });
    }
    return sources;
  }

  /**
   * Writes the next entries of the new archive if enough of them in a row are available, in the
   * background (one batch at a time). Any failure gives the early write up, silently but for a
   * debug line: commit then assembles the whole archive as if it never started, and reports.
   */
  private writeAhead(): void {
    if (this.closed || this.aheadGivenUp) return;
    this.aheadAgain = true;
    if (this.aheadRunning) return;
    this.aheadRunning = (async () => {
      try {
        while (this.aheadAgain && !this.closed && !this.aheadGivenUp) {
          this.aheadAgain = false;
          await this.writeAheadBatch();
        }
      } catch (err) {
        this.aheadGivenUp = true;
        await this.ahead?.discard();
        this.ahead = null;
        this.host.log("debug", "upload.ahead-given-up", { client: this.client, name: this.name, error: (err as Error).message });
      }
      this.aheadRunning = null;
    })();
  }

  private async writeAheadBatch(): Promise<void> {
    const from = this.ahead?.count ?? 0;
    let end = from;
    let raw = 0;
    while (end < this.received && this.available(end)) raw += this.rawLengths[end++]!;
    if (end === from || raw < AHEAD_BATCH_RAW) return;
    const sources = this.plan(from, end);
    if (this.writeError) throw this.writeError;
    await this.host.ensureSpace(
      sources.reduce((sum, s) => sum + s.length, 0),
      `${this.client}/${this.name}`,
    );
    this.ahead ??= await this.newAssembler();
    await this.ahead.append(sources);
  }

  /** An assembler writing a new temp file under .hashrelay/tmp. */
  private newAssembler(): Promise<ArchiveAssembler> {
    return ArchiveAssembler.create(this.name, this.host.layout.tmpPath(`${randomBytes(8).toString("hex")}.${this.format}`), this.format);
  }

  /** Whether entry `i`'s member is held or staged (so it can be written). */
  private available(i: number): boolean {
    const state = this.states[i];
    if (state === REUSE) return true;
    return (state === RECEIVED || state === DUPLICATE) && this.staged.has(state === DUPLICATE ? this.dupOf.get(i)! : i);
  }

  /** The archive written ahead, once its batch in progress is done, or null; the caller owns it from now on. */
  private async takeAhead(): Promise<ArchiveAssembler | null> {
    await this.aheadRunning;
    const ahead = this.ahead;
    this.ahead = null;
    return ahead;
  }

  private async installFile(tmp: string, built: { members: MemberTable; fileSha256: string }, size: number): Promise<CatalogEntry> {
    const { layout } = this.host;
    const { name, file, archiveId } = this.header!;
    const stats = await installArchive(layout, this.client, file, tmp);
    if (stats.size !== size) {
      throw new HashRelayError("STORAGE", `${this.client}/${file}: stored ${stats.size} bytes, expected ${size}`);
    }
    const row: ArchiveRow = {
      client: this.client,
      name,
      file,
      archiveId,
      fileSha256: built.fileSha256,
      size,
      mtimeMs: stats.mtimeMs,
      storedAt: new Date(this.host.now()).toISOString(),
    };
    return this.host.stored(row, built.members);
  }

  /** Manifest entry `index` as received so far, or undefined. */
  entryAt(index: number): ManifestEntry | undefined {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.received) return undefined;
    return { id: this.idAt(index).slice(), rawLength: this.rawLengths[index]! };
  }

  private idAt(i: number): Uint8Array {
    return this.ids.subarray(i * 32, i * 32 + 32);
  }

  private firstMissing(): number {
    for (let i = 0; i < this.received; i++) if (this.states[i] === NEEDED) return i;
    return -1;
  }

  /** Grows the per-entry arrays to hold at least `count` entries (doubling, capped at MAX_CHUNKS_PER_ARCHIVE). */
  private grow(count: number): void {
    if (count <= this.rawLengths.length) return;
    const capacity = Math.min(MAX_CHUNKS_PER_ARCHIVE, Math.max(count, this.rawLengths.length * 2, 1024));
    const ids = new Uint8Array(capacity * 32);
    ids.set(this.ids);
    const raw = new Uint32Array(capacity);
    raw.set(this.rawLengths);
    const states = new Uint8Array(capacity);
    states.set(this.states);
    this.ids = ids;
    this.rawLengths = raw;
    this.states = states;
  }

  private openStaging(): Promise<FileHandle> {
    this.staging ??= (async () => {
      await mkdir(this.host.layout.stagingDir(this.client), { recursive: true, mode: 0o750 });
      return open(this.stagingPath, "wx+", 0o640);
    })();
    return this.staging;
  }

  /** Closes the staging file and hands the outcome to the store. Never throws. */
  private async finish(committed: boolean): Promise<void> {
    await (await this.takeAhead())?.discard();
    let staging: UploadOutcome["staging"] = null;
    if (this.staging) {
      try {
        await (await this.staging).close();
      } catch {
        // opening failed: nothing to close
      }
      staging = { path: this.stagingPath, members: this.written };
    }
    await this.host.ended(this, { committed, staging });
  }

  private assertOpen(): void {
    if (this.closed) throw new HashRelayError("BAD_FRAME", `upload of ${this.name} is already finished`);
  }
}
