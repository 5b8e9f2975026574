// Server storage: archives under their final names, the derived chunk index, uploads and their staging pool, retention, the trash.
//
// On disk (see layout.ts):
//   <root>/<client>/backup-NAME-NOW.tar.gz         archives, complete and fsynced (users restore from these)
//   <root>/.trash/<client>/<item> + <item>.trashed  superseded archives and their trash time (trash.ts)
//   <root>/.holds/<client>/<name>.json              a held name: its last good archive escapes retention (holds.ts)
//   <root>/.hashrelay/index.sqlite                  derived chunk index (chunk-index.ts): rebuilt by scanning when missing, stale or damaged
//   <root>/.hashrelay/tmp/                          archives being assembled; emptied on open
//   <root>/.hashrelay/staging/<client>/*.part       chunks of unfinished uploads: the client's staging pool (staging-pool.ts)
// Crash safety: a file reaches its final name only by rename after fsync (then the folder is
// fsynced); the previous archive of a name moves to the trash only after that; so a crash leaves
// the old archive, or the new one, or both — never a partial file under a final name.
import { closeSync, openSync, readSync } from "node:fs";
import { lstat, mkdir, open, readdir, rm, statfs, unlink } from "node:fs/promises";
import { join } from "node:path";
import { HashRelayError } from "../errors.ts";
import { isSlug } from "../config/slug.ts";
import { parseArchiveFileName, type ArchiveFormat } from "../archive/naming.ts";
import { chunkIdHex } from "../archive/manifest.ts";
import type { StoreLog } from "./store-log.ts";
import type { SignedDoc } from "../protocol/signed-document.ts";
import { inflateMember } from "../archive/gzip-member.ts";
import { CHUNK_MAX, SHA256_HEX } from "../protocol/constants.ts";
import { readExactly, scanArchive, scrubArchive, type DamagedMember } from "./archive-file.ts";
import { isSignedDocShape, lazyEntry, type ArchiveRow, type CatalogEntry, type ChunkLocation } from "./catalog.ts";
import { ChunkIndex } from "./chunk-index.ts";
import { HoldBook, holdAfter, type Hold } from "./holds.ts";
import { StoreLayout, assertUnderRoot, checkArchiveFile, checkClient, checkName, pathExists, readdirOrEmpty } from "./layout.ts";
import type { MemberTable } from "./member-table.ts";
import { STAGING_CAP_BYTES, STAGING_STALE_MS, StagingPool, type PoolMember } from "./staging-pool.ts";
import { asStorageError } from "./storage-error.ts";
import type { AuditEvent } from "./audit-chain.ts";
import { DEFAULT_SUSPECT_RULES, judgeReplacement, type SuspectRules } from "./suspect-replacement.ts";
import { listTrash, moveToTrash, purgeExpired, readTrashRecord, type TrashItem } from "./trash.ts";
import { Upload, type HeldMember, type UploadHost, type UploadOutcome } from "./upload.ts";
import { ChunkWorkers } from "../io/chunk-workers.ts";

/**
 * Told each accept, supersede, hold, release, trash and purge once it is durable on disk (e.g. AuditLog.append of
 * audit-log.ts). Awaited; a rejection is logged (audit.write-failed) and never fails or undoes the operation.
 */
export type AuditSink = (event: AuditEvent) => Promise<void> | void;

export interface Retention {
  /** Archives kept per client and name (≥ 1); older ones go to the trash. */
  keep: number;
  /** How long a trashed archive waits before purgeTrash deletes it. */
  trashForMs: number;
  /** When a new archive is held as a suspect replacement (default DEFAULT_SUSPECT_RULES). */
  suspect?: SuspectRules;
}

export interface StoreOptions {
  log?: StoreLog;
  /** Clock in ms since the epoch (tests inject one). */
  now?: () => number;
  retention?: Retention;
  /** Free space that must remain after storing an archive. Default 64 MiB. */
  spaceMarginBytes?: number;
  /** A staging file not written for this long is dropped. Default STAGING_STALE_MS (24 h). */
  stagingStaleMs?: number;
  /** Staged bytes kept per client; beyond, the oldest staging files go. Default STAGING_CAP_BYTES (4 GiB). */
  stagingCapBytes?: number;
  audit?: AuditSink;
}

export const DEFAULT_RETENTION: Retention = { keep: 1, trashForMs: 48 * 3600 * 1000, suspect: DEFAULT_SUSPECT_RULES };
export const DEFAULT_SPACE_MARGIN = 64 * 1024 * 1024;

export type { StoreLog } from "./store-log.ts";
export type { ArchiveRow, CatalogEntry, ChunkLocation, MemberRecord } from "./catalog.ts";
export type { DamagedMember } from "./archive-file.ts";
export type { TrashItem } from "./trash.ts";
export type { AuditEvent } from "./audit-chain.ts";
export type { Hold } from "./holds.ts";
export { DEFAULT_SUSPECT_RULES, type SuspectRules } from "./suspect-replacement.ts";
export { STAGING_CAP_BYTES, STAGING_STALE_MS } from "./staging-pool.ts";
export { Upload, type UploadHeader } from "./upload.ts";

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

  close(): void {
    for (const path of [...this.fds.keys()]) this.closeOne(path);
  }

  private closeOne(path: string): void {
    try {
      closeSync(this.fds.get(path)!);
    } catch {
      // closing a read-only descriptor loses nothing
    }
    this.fds.delete(path);
  }
}

/** What Store.verifyArchive found in one stored archive. */
export interface ScrubReport {
  client: string;
  file: string;
  /** Members checked (every member the index lists). */
  members: number;
  /** The file's size on disk and the size the index recorded. */
  size: number;
  expectedSize: number;
  /** Members that do not inflate to their chunk id, in file order; [] for a sound archive. */
  damaged: DamagedMember[];
  /** True when no member is damaged and the size is right. */
  ok: boolean;
}

/** A stored or trashed archive opened for reading (Store.archiveToSend): its members as recorded, and its bytes. */
export interface ArchiveSource {
  trashed: boolean;
  size: number;
  members: { id: string; offset: number; length: number; rawLength: number }[];
  /** Reads exactly `length` bytes at `offset`; throws STORAGE when the file is shorter. */
  read: (offset: number, length: number) => Promise<Uint8Array>;
  close: () => Promise<void>;
}

/** An archive waiting in the trash (Store.listTrashed). */
export interface TrashedArchive {
  client: string;
  /** Its file name inside .trash/<client>/ (the archive's name, or that name plus ".N"). */
  item: string;
  name: string;
  /** The archive's file name when it was stored. */
  file: string;
  archiveId: string;
  fileSha256: string;
  size: number;
  storedAt: string;
  trashedAt: string;
  purgeAt: string;
}

/**
 * The server's storage under one root folder. Every client id, name and file given to a method is
 * checked first (BAD_FRAME when it is not a slug / not an archive name of that name), and every path
 * is asserted to stay under the root. Methods may be called concurrently: commits, retention,
 * receipts and staging sweeps of one client run one at a time.
 */
export class Store {
  readonly root: string;
  private readonly layout: StoreLayout;
  private readonly index: ChunkIndex;
  private readonly holdBook: HoldBook;
  private readonly pool: StagingPool;
  private readonly log: StoreLog;
  private readonly now: () => number;
  private readonly spaceMargin: number;
  private retention: Retention = DEFAULT_RETENTION;
  private readonly locks = new Map<string, Promise<void>>();
  private readonly active = new Map<string, Upload>();
  private readonly host: UploadHost;
  private compressors: ChunkWorkers | null = null;
  private readonly auditSink: AuditSink | undefined;

  private constructor(layout: StoreLayout, index: ChunkIndex, holdBook: HoldBook, opts: StoreOptions) {
    this.layout = layout;
    this.root = layout.root;
    this.index = index;
    this.holdBook = holdBook;
    this.log = opts.log ?? (() => undefined);
    this.now = opts.now ?? Date.now;
    this.spaceMargin = opts.spaceMarginBytes ?? DEFAULT_SPACE_MARGIN;
    this.auditSink = opts.audit;
    this.pool = new StagingPool(layout, this.log, {
      staleMs: opts.stagingStaleMs ?? STAGING_STALE_MS,
      capBytes: opts.stagingCapBytes ?? STAGING_CAP_BYTES,
    });
    if (opts.retention) this.setRetention(opts.retention);
    this.host = {
      layout,
      log: this.log,
      now: this.now,
      held: (client, id, hex) => this.held(client, id, hex),
      sources: (client, ids) => this.heldMembers(client, ids),
      withClientLock: (client, task) => this.withClientLock(client, task),
      existingEntry: (client, file) => this.existingEntry(client, file),
      ensureSpace: (bytes, what) => this.ensureSpace(bytes, what),
      stored: (row, members) => this.stored(row, members),
      ended: (upload, outcome) => this.ended(upload, outcome),
      // Chunks rebuilt from deltas are compressed on worker threads (started at the first one): the session goes on reading frames meanwhile.
      compress: (raw, format) => (this.compressors ??= new ChunkWorkers()).compress(raw, format),
    };
  }

  /**
   * Opens (creating, mode 0750) the storage at `root`: empties .hashrelay/tmp; opens the chunk index
   * (a damaged one is moved aside and made anew) and brings it in line with the archives on disk,
   * scanning every archive it lacks or holds stale (size or mtime changed); reads the staging pool
   * (verifying every staged member, cutting damaged tails, dropping stale files). A damaged archive
   * is logged and left alone (not listed, never deleted). Trashed items without a recorded trash time
   * get one dated now. Throws STORAGE (e.g. EACCES).
   */
  static async open(root: string, opts: StoreOptions = {}): Promise<Store> {
    try {
      return await Store.openOrThrow(new StoreLayout(root), opts);
    } catch (err) {
      throw asStorageError(err, `cannot open storage ${root}`);
    }
  }

  private static async openOrThrow(layout: StoreLayout, opts: StoreOptions): Promise<Store> {
    const log = opts.log ?? (() => undefined);
    const now = opts.now ?? Date.now;
    await mkdir(layout.root, { recursive: true, mode: 0o750 });
    for (const dir of [layout.trashRoot(), layout.derivedDir(), layout.tmpDir(), layout.stagingRoot()]) {
      await mkdir(dir, { recursive: true, mode: 0o750 });
    }
    for (const path of [...(await readdir(layout.tmpDir())).map((item) => join(layout.tmpDir(), item)), layout.legacyCatalogRoot()]) {
      if (!(await pathExists(path))) continue;
      assertUnderRoot(layout.root, path);
      await rm(path, { recursive: true, force: true });
      log("info", "store.leftover-removed", { path });
    }
    const holds = await HoldBook.load(layout, (event, fields) => log("error", event, fields));
    const store = new Store(layout, await ChunkIndex.open(layout.indexPath(), log, now()), holds, opts);
    try {
      await store.syncIndex();
      await store.pool.load(store.now());
      for (const client of store.pool.clients()) await store.sweepStaging(client);
      await listTrash(layout, store.now(), store.log);
    } catch (err) {
      await store.close();
      throw err;
    }
    return store;
  }

  /**
   * Shuts the store: aborts the uploads in progress (their staged chunks stay for the next open), then
   * closes the chunk index. Call it once, at shutdown; the store is unusable afterwards. Never throws.
   */
  async close(): Promise<void> {
    for (const upload of [...this.active.values()]) await upload.abort();
    this.compressors?.close();
    try {
      this.index.close();
    } catch (err) {
      this.log("warn", "index.close-failed", { error: (err as Error).message });
    }
  }

  /** The newest stored archive of (client, name), or undefined. Throws BAD_FRAME on a bad client or name. */
  latest(client: string, name: string): CatalogEntry | undefined {
    checkClient(client);
    checkName(name);
    return this.list(client)
      .filter((e) => e.name === name)
      .at(-1);
  }

  /** Every archive stored for `client`, oldest first; members are read from the index when first used. Throws BAD_FRAME on a bad client. */
  list(client: string): CatalogEntry[] {
    checkClient(client);
    return this.index.archives(client).map((row) => this.entryOf(row));
  }

  /** The newest stored archive of (client, name) with this archive id, or undefined. Throws BAD_FRAME on a bad client or name. */
  find(client: string, name: string, archiveId: string): CatalogEntry | undefined {
    checkClient(client);
    checkName(name);
    return this.list(client)
      .filter((e) => e.name === name && e.archiveId === archiveId)
      .at(-1);
  }

  /** The newest stored archive of `client` with this archive id, whatever its name, or undefined. */
  findById(client: string, archiveId: string): CatalogEntry | undefined {
    checkClient(client);
    return this.list(client)
      .filter((e) => e.archiveId === archiveId)
      .at(-1);
  }

  /**
   * The raw bytes of a chunk this client's stored archives hold, or null when none holds it. Reads
   * and inflates one member; the caller checks what it builds from it against a chunk id. Throws
   * BAD_FRAME on a bad client or id, STORAGE when the archive cannot be read or the member is damaged.
   * The archive stays open in `files` for the next reads, and the member is read with one blocking
   * pread: a session rebuilding chunks from deltas reads one small member per chunk, mostly from the
   * page cache, and three thread-pool round trips each cost more than the read.
   */
  readChunk(client: string, idHex: string, files: OpenFiles): Uint8Array | null {
    checkClient(client);
    if (typeof idHex !== "string" || !SHA256_HEX.test(idHex))
      throw new HashRelayError("BAD_FRAME", `chunk id ${JSON.stringify(idHex)} is not 64 lower-case hex digits`);
    const location = this.index.locate(client, new Uint8Array(Buffer.from(idHex, "hex")));
    if (!location) return null;
    const what = `${client}/${location.file}`;
    let member: Uint8Array;
    try {
      member = files.read(this.layout.archivePath(client, location.file), location.offset, location.length, what);
    } catch (err) {
      throw err instanceof HashRelayError ? err : new HashRelayError("STORAGE", `cannot read ${what}: ${(err as Error).message}`);
    }
    try {
      return inflateMember(member, CHUNK_MAX);
    } catch (err) {
      throw new HashRelayError("STORAGE", `${what}: member at ${location.offset} is damaged (${(err as Error).message})`);
    }
  }

  /**
   * chunk id (hex) → member location over this client's stored archives only (newest archive wins).
   * Built from the index on every call, O(chunks of the client): for tests and tools; uploads ask the
   * index one chunk at a time. Throws BAD_FRAME on a bad client.
   */
  chunkIndex(client: string): Map<string, ChunkLocation> {
    checkClient(client);
    return this.index.chunkMap(client);
  }

  /** The staging files (names) in this client's staging pool, oldest first. Throws BAD_FRAME on a bad client. */
  stagingFiles(client: string): string[] {
    checkClient(client);
    return this.pool.items(client);
  }

  /**
   * Scrubs one stored archive: reads and inflates every member the index lists and checks it against
   * its chunk id (commits only compare a member's SHA-256 with the one recorded). Logs archive.damaged
   * when something is wrong; changes nothing. Throws BAD_FRAME on a bad client or file, STORAGE when
   * that archive is not stored or cannot be read.
   */
  async verifyArchive(client: string, file: string): Promise<ScrubReport> {
    checkClient(client);
    checkArchiveFile(parseArchiveFileName(file)?.name ?? "", file);
    const row = this.index.archive(client, file);
    if (!row) throw new HashRelayError("STORAGE", `no archive ${file} is stored for ${client}`);
    const members = this.index.membersWithSha(client, file);
    const result = await scrubArchive(this.layout.archivePath(client, file), members).catch((err) => {
      throw asStorageError(err, `cannot verify ${client}/${file}`);
    });
    const report: ScrubReport = {
      client,
      file,
      members: members.length,
      size: result.size,
      expectedSize: row.size,
      damaged: result.damaged,
      ok: result.damaged.length === 0 && result.size === row.size,
    };
    if (!report.ok) {
      const first = result.damaged[0];
      this.log("error", "archive.damaged", {
        client,
        file,
        damagedMembers: result.damaged.length,
        size: result.size,
        expectedSize: row.size,
        first: first ? `member ${first.index} at byte ${first.offset}: ${first.reason}` : undefined,
      });
    }
    return report;
  }

  /**
   * The archives of `client` waiting in the trash, oldest trashed first, with the time the purge deletes
   * them (trash time + retention.trashForMs). Details come from the sidecar; an item trashed without
   * them (older store, crash) is scanned for its ids. Items that are not
   * our archives (unreadable, foreign names) are skipped. Throws BAD_FRAME on a bad client, STORAGE.
   */
  async listTrashed(client: string): Promise<TrashedArchive[]> {
    checkClient(client);
    const out: TrashedArchive[] = [];
    const items = (
      await listTrash(this.layout, this.now(), this.log).catch((err) => {
        throw asStorageError(err, `cannot list the trash of ${client}`);
      })
    ).filter((t) => t.client === client);
    for (const { item, trashedAtMs } of items) {
      const record = await readTrashRecord(this.layout, client, item);
      const file = (record?.from?.startsWith(`${client}/`) ? record.from.slice(client.length + 1) : item).replace(/\.\d+$/, "");
      const name = parseArchiveFileName(file)?.name;
      if (!name || !isSlug(name)) continue;
      let details =
        record?.archiveId && record.fileSha256 && record.size !== undefined && record.storedAt
          ? { archiveId: record.archiveId, fileSha256: record.fileSha256, size: record.size, storedAt: record.storedAt }
          : null;
      if (!details) {
        try {
          const scanned = await scanArchive(this.layout.trashPath(client, item));
          details = {
            archiveId: scanned.archiveId,
            fileSha256: scanned.fileSha256,
            size: scanned.size,
            storedAt: new Date(scanned.mtimeMs).toISOString(),
          };
        } catch (err) {
          this.log("warn", "trash.unreadable", { client, item, error: (err as Error).message });
          continue;
        }
      }
      out.push({
        client,
        item,
        name,
        file,
        ...details,
        trashedAt: new Date(trashedAtMs).toISOString(),
        purgeAt: new Date(trashedAtMs + this.retention.trashForMs).toISOString(),
      });
    }
    return out.sort((a, b) => a.trashedAt.localeCompare(b.trashedAt) || a.item.localeCompare(b.item));
  }

  /**
   * An archive of `client` to send back (restore): the stored file `file` of source `name`, else the
   * newest trashed item holding that file. `members` reads its members in file order with their
   * chunk ids and raw lengths (the index's for a stored archive, a scan's for a trashed one); the
   * reader checks nothing, the restoring client does. Throws BAD_FRAME on a bad client, name or file,
   * STORAGE when no such archive is held or it cannot be read.
   */
  async archiveToSend(client: string, name: string, file: string): Promise<ArchiveSource> {
    checkClient(client);
    checkArchiveFile(name, file);
    const row = this.index.archive(client, file);
    let path: string;
    let members: { id: string; offset: number; length: number; rawLength: number }[];
    let trashed = false;
    if (row) {
      path = this.layout.archivePath(client, file);
      members = this.index
        .membersWithSha(client, file)
        .map((m) => ({ id: m.id, offset: m.offset, length: m.length, rawLength: m.rawLength }));
    } else {
      const item = (await this.listTrashed(client)).filter((t) => t.file === file).at(-1);
      if (!item) throw new HashRelayError("STORAGE", `no archive ${file} is stored or in the trash for ${client}`);
      path = this.layout.trashPath(client, item.item);
      const scanned = await scanArchive(path).catch((err) => {
        throw asStorageError(err, `cannot read ${client}/${file} in the trash`);
      });
      members = Array.from({ length: scanned.members.count }, (_, i) => ({
        id: Buffer.from(scanned.members.id(i)).toString("hex"),
        offset: scanned.members.offset(i),
        length: scanned.members.length(i),
        rawLength: scanned.members.rawLength(i),
      }));
      trashed = true;
    }
    const handle = await open(path, "r").catch((err) => {
      throw asStorageError(err, `cannot open ${client}/${file}`);
    });
    const size = (await handle.stat()).size;
    return {
      trashed,
      size,
      members,
      read: (offset, length) => readExactly(handle, offset, length, `${client}/${file}`),
      close: () => handle.close(),
    };
  }

  /**
   * Starts receiving an archive of source `name`. Throws BAD_FRAME on a bad client or name, BUSY
   * when an upload of the same name for this client is in progress. The archive's file name and id
   * come with Upload.commit(). `knownStored`: hex ids of chunks in this client's stored archives (the
   * accepted base's members), answered without an index probe.
   */
  beginUpload(client: string, name: string, format: ArchiveFormat = "tar.gz", knownStored: ReadonlySet<string> | null = null): Upload {
    checkClient(client);
    checkName(name);
    if (format !== "tar.gz" && format !== "tar.zst")
      throw new HashRelayError("BAD_FRAME", `unknown archive format ${String(format).slice(0, 20)}`);
    const key = `${client}/${name}`;
    if (this.active.has(key)) {
      throw new HashRelayError("BUSY", `an upload of ${name} for ${client} is already in progress`, "retry after it ends");
    }
    const upload = new Upload(this.host, client, name, format, knownStored);
    this.active.set(key, upload);
    return upload;
  }

  /**
   * Stores the signed receipt with the archive's index entry and returns the updated entry. Throws
   * BAD_FRAME on a bad client or file, INTERNAL when `receipt` is not a {body, sig, key} document,
   * STORAGE when that archive is not stored (any more) or the index cannot be written.
   */
  async setReceipt(client: string, file: string, receipt: SignedDoc): Promise<CatalogEntry> {
    checkClient(client);
    checkArchiveFile(parseArchiveFileName(file)?.name ?? "", file);
    if (!isSignedDocShape(receipt)) throw new HashRelayError("INTERNAL", `receipt for ${client}/${file} is not a signed document`);
    return this.withClientLock(client, async () => {
      const doc = { body: receipt.body, sig: receipt.sig, key: receipt.key };
      let recorded: boolean;
      try {
        recorded = this.index.setReceipt(client, file, doc);
      } catch (err) {
        throw asStorageError(err, `cannot record the receipt of ${client}/${file}`);
      }
      const row = recorded ? this.index.archive(client, file) : undefined;
      if (!row) throw new HashRelayError("STORAGE", `no archive ${file} is stored for ${client}`);
      return this.entryOf(row);
    });
  }

  /**
   * Deletes trashed archives whose trash time + trashForMs ≤ now and returns them. Touches nothing
   * but .trash; items it cannot delete are logged and kept. Throws CONFIG on a bad duration, STORAGE
   * when the trash cannot be listed.
   */
  async purgeTrash(trashForMs: number = this.retention.trashForMs): Promise<TrashItem[]> {
    if (!Number.isFinite(trashForMs) || trashForMs < 0) {
      throw new HashRelayError("CONFIG", `trash time ${trashForMs} ms is not a duration`);
    }
    const purged = await purgeExpired(this.layout, trashForMs, this.now(), this.log).catch((err) => {
      throw asStorageError(err, "cannot purge the trash");
    });
    for (const { client, item, trashedAtMs } of purged)
      await this.audit({ event: "purge", client, item, trashedAt: new Date(trashedAtMs).toISOString() });
    return purged;
  }

  /** Sets retention for later commits and purges. Throws CONFIG when keep < 1 or trashForMs < 0. */
  setRetention(retention: Retention): void {
    const { keep, trashForMs, suspect = DEFAULT_SUSPECT_RULES } = retention;
    if (!Number.isSafeInteger(keep) || keep < 1) {
      throw new HashRelayError("CONFIG", `retention.keep must be a whole number ≥ 1, got ${keep}`);
    }
    if (!Number.isFinite(trashForMs) || trashForMs < 0) {
      throw new HashRelayError("CONFIG", `retention.trashFor must be a duration ≥ 0, got ${trashForMs} ms`);
    }
    for (const key of ["maxShared", "ratioJump", "minRatio"] as const) {
      if (!Number.isFinite(suspect[key]) || suspect[key] < 0)
        throw new HashRelayError("CONFIG", `retention.suspect.${key} must be a number ≥ 0, got ${suspect[key]}`);
    }
    if (!Number.isSafeInteger(suspect.releaseAfter) || suspect.releaseAfter < 0) {
      throw new HashRelayError("CONFIG", `retention.suspect.releaseAfter must be a whole number ≥ 0, got ${suspect.releaseAfter}`);
    }
    this.retention = { keep, trashForMs, suspect: { ...suspect } };
  }

  /** The hold on (client, name), or undefined. Throws BAD_FRAME on a bad client or name. */
  holdOf(client: string, name: string): Hold | undefined {
    checkClient(client);
    checkName(name);
    return this.holdBook.get(client, name);
  }

  /** Every hold, by client and name. */
  holds(): Hold[] {
    return this.holdBook.all().sort((a, b) => a.client.localeCompare(b.client) || a.name.localeCompare(b.name));
  }

  /**
   * Lifts the hold on (client, name) and applies retention to that name at once (the kept archive goes
   * to the trash like any superseded one, unless retention.keep keeps it). Returns the hold, or
   * undefined when the name was not held. Throws BAD_FRAME on a bad client or name, STORAGE when the
   * hold file cannot be deleted.
   */
  async release(client: string, name: string, by: string): Promise<Hold | undefined> {
    checkClient(client);
    checkName(name);
    return this.withClientLock(client, async () => {
      const hold = this.holdBook.get(client, name);
      if (!hold) return undefined;
      await this.holdBook.drop(client, name).catch((err) => {
        throw asStorageError(err, `cannot release ${client}/${name}`);
      });
      this.log("info", "archive.released", { client, name, file: hold.kept, suspect: hold.suspect, reason: by });
      await this.audit({ event: "release", client, name, file: hold.kept, suspect: hold.suspect, reason: by });
      await this.applyRetention(client, name);
      return hold;
    });
  }

  /**
   * Applies the release requests `hashrelay release` left under .holds (see holds.ts), deleting each
   * once done (also when nothing was held, or it failed: logged). Returns what was released. Never throws.
   */
  async applyReleaseRequests(): Promise<Hold[]> {
    const released: Hold[] = [];
    try {
      for (const { client, name } of await this.holdBook.requests()) {
        try {
          const hold = await this.release(client, name, "hashrelay release");
          if (hold) released.push(hold);
          else this.log("info", "release.not-held", { client, name });
        } catch (err) {
          this.log("error", "release.failed", { client, name, error: (err as Error).message });
        }
        await this.holdBook
          .consume(client, name)
          .catch((err) => this.log("error", "release.failed", { client, name, error: (err as Error).message }));
      }
    } catch (err) {
      this.log("error", "release.failed", { error: (err as Error).message });
    }
    return released;
  }

  // ---- internals ----

  private entryOf(row: ArchiveRow): CatalogEntry {
    return lazyEntry(row, () => this.index.members(row.client, row.file));
  }

  /**
   * Brings the index in line with the archives on disk: keeps a row whose file has the recorded size
   * and mtime and whose members cover it, scans (one transaction per archive) every other archive,
   * forgets rows whose file is gone.
   */
  private async syncIndex(): Promise<void> {
    const recorded = this.index.recorded();
    const seen = new Set<string>();
    for (const client of await readdirOrEmpty(this.layout.root)) {
      if (client.startsWith(".")) continue;
      if (!isSlug(client)) {
        this.log("debug", "store.ignored", { path: client, reason: "not a client folder" });
        continue;
      }
      if (!(await lstat(this.layout.clientDir(client))).isDirectory()) continue;
      seen.add(client);
      await this.syncClient(
        client,
        recorded.filter((r) => r.client === client),
      );
    }
    for (const stale of recorded.filter((r) => !seen.has(r.client))) {
      this.index.remove(stale.client, stale.file);
      this.log("info", "catalog.orphan-removed", { client: stale.client, file: stale.file });
    }
  }

  /**
   * Makes the index agree with `<root>/<client>/`: archives it does not know or whose size or mtime
   * moved are scanned (damaged ones logged, left in place, not indexed), records whose file is gone
   * are dropped. `recorded`: the index's rows of that client.
   */
  private async syncClient(client: string, recorded: ReturnType<ChunkIndex["recorded"]>): Promise<void> {
    const known = new Map(recorded.map((r) => [r.file, r]));
    for (const file of await readdirOrEmpty(this.layout.clientDir(client))) {
      const parsed = parseArchiveFileName(file);
      if (!parsed || !isSlug(parsed.name)) {
        this.log("debug", "store.ignored", { path: `${client}/${file}`, reason: "not an archive name" });
        continue;
      }
      const stats = await lstat(this.layout.archivePath(client, file)).catch(() => null);
      if (!stats?.isFile()) continue;
      const row = known.get(file);
      known.delete(file);
      if (row && row.consistent && row.size === stats.size && row.mtimeMs === stats.mtimeMs) continue;
      if (row && !row.consistent) this.log("warn", "index.invalid", { client, file, reason: "its members do not cover the file" });
      if (row && row.consistent)
        this.log("warn", "archive.changed", {
          client,
          file,
          size: stats.size,
          recordedSize: row.size,
          note: "changed on disk since it was stored; scanned again",
        });
      try {
        const members = await this.scanInto(client, parsed.name, file);
        this.log("info", "catalog.rebuilt", { client, file, members });
      } catch (err) {
        this.log("error", "archive.damaged", { client, file, error: (err as Error).message });
        if (row) this.index.remove(client, file);
      }
    }
    for (const stale of known.values()) {
      this.index.remove(stale.client, stale.file);
      this.log("warn", "archive.vanished", {
        client: stale.client,
        file: stale.file,
        note: "indexed, but no longer in the storage folder: forgotten; its chunks are asked for again",
      });
    }
  }

  /**
   * Before a backup of `client` is answered: the index is checked against its folder (one lstat per
   * archive), so an archive deleted, truncated or replaced behind the server's back is neither
   * claimed as held nor used as a source of chunks; the next upload sends what it then lacks.
   * Runs under the client lock. Never throws (a failure is logged and the index left as it was).
   */
  async refreshClient(client: string): Promise<void> {
    checkClient(client);
    await this.withClientLock(client, async () => {
      try {
        await this.syncClient(
          client,
          this.index.recorded().filter((r) => r.client === client),
        );
      } catch (err) {
        this.log("error", "index.refresh-failed", { client, error: (err as Error).message });
      }
    });
  }

  /** Scans `<client>/<file>` and records it (no receipt) in the index. Returns its member count. Throws STORAGE when damaged. */
  private async scanInto(client: string, name: string, file: string): Promise<number> {
    const scanned = await scanArchive(this.layout.archivePath(client, file));
    const row: ArchiveRow = {
      client,
      name,
      file,
      archiveId: scanned.archiveId,
      fileSha256: scanned.fileSha256,
      size: scanned.size,
      mtimeMs: scanned.mtimeMs,
      storedAt: new Date(scanned.mtimeMs).toISOString(),
    };
    this.index.put(row, scanned.members);
    return scanned.members.count;
  }

  private async existingEntry(client: string, file: string): Promise<CatalogEntry | undefined> {
    const known = this.index.archive(client, file);
    if (known) return this.entryOf(known);
    if (!(await pathExists(this.layout.archivePath(client, file)))) return undefined;
    const name = parseArchiveFileName(file)?.name ?? "";
    checkArchiveFile(name, file);
    try {
      await this.scanInto(client, name, file);
    } catch (err) {
      throw new HashRelayError(
        "STORAGE",
        `${client}/${file} already exists and is not a valid archive`,
        "a stored file is never overwritten",
        { cause: err },
      );
    }
    const row = this.index.archive(client, file);
    return row ? this.entryOf(row) : undefined;
  }

  /** "stored", the staging file of the client's pool holding the chunk, or null. An unreadable index only costs a resend: null. */
  private held(client: string, id: Uint8Array, hex: string): "stored" | string | null {
    try {
      if (this.index.holds(client, id)) return "stored";
    } catch (err) {
      this.log("error", "index.read-failed", { client, error: (err as Error).message });
    }
    return this.pool.find(client, hex)?.path ?? null;
  }

  /** Where to copy each chunk this client holds from: its newest stored archive holding it, else its staging pool. */
  private heldMembers(client: string, ids: readonly Uint8Array[]): (HeldMember | undefined)[] {
    const places = new Map<string, { path: string; label: string }>(); // per file: paths are checked once, not per member
    return ids.map((id) => {
      const stored = this.index.locate(client, id);
      if (stored) {
        const { file, offset, length, rawLength, sha256 } = stored;
        let place = places.get(file);
        if (!place) places.set(file, (place = { path: this.layout.archivePath(client, file), label: `${client}/${file}` }));
        return { ...place, offset, length, rawLength, sha256 };
      }
      const hit = this.pool.find(client, chunkIdHex(id));
      if (!hit) return undefined;
      const { offset, length, rawLength, sha256 } = hit.member;
      return { path: hit.path, label: `staging file ${hit.item} of ${client}`, offset, length, rawLength, sha256 };
    });
  }

  private async ensureSpace(bytes: number, what: string): Promise<void> {
    const fs = await statfs(this.layout.root);
    const free = fs.bavail * fs.bsize;
    if (free < bytes + this.spaceMargin) {
      throw new HashRelayError(
        "NO_SPACE",
        `not enough space to store ${what}: it needs ${bytes} bytes plus a ${this.spaceMargin}-byte margin, ${free} bytes are free`,
        "free space on the server's storage or lower retention.keep",
      );
    }
  }

  /** An archive is in place: record it, then apply retention for its name. Logs failures, never throws. */
  private async stored(row: ArchiveRow, members: MemberTable): Promise<CatalogEntry> {
    this.log("info", "archive.stored", { client: row.client, file: row.file, size: row.size });
    try {
      this.index.put(row, members);
    } catch (err) {
      this.log("error", "index.write-failed", { client: row.client, file: row.file, error: (err as Error).message });
    }
    const { client, name, file, archiveId, fileSha256, size } = row;
    await this.audit({ event: "accept", client, name, file, archiveId, fileSha256, size });
    const previous = this.index
      .archives(client)
      .filter((e) => e.name === name && e.file !== file)
      .at(-1);
    if (previous) await this.audit({ event: "supersede", client, name, file: previous.file, replacedBy: file });
    // A hold that could not be judged or written must not cost the last good copy: no retention this time.
    if (await this.watchReplacement(row, members)) await this.applyRetention(client, name, file);
    return lazyEntry(row, () => members.records());
  }

  /**
   * Judges a new archive against its predecessor and updates the hold of its name (holds.ts). Returns
   * false when that failed (logged): retention must then wait. Never throws.
   */
  private async watchReplacement(row: ArchiveRow, members: MemberTable): Promise<boolean> {
    const previous = this.index
      .archives(row.client)
      .filter((e) => e.name === row.name && e.file !== row.file)
      .at(-1);
    if (!previous) return true;
    const { client, name } = row;
    const rules = this.retention.suspect ?? DEFAULT_SUSPECT_RULES;
    try {
      const verdict = judgeReplacement(this.index.members(client, previous.file), members.records(), rules);
      const current = this.holdBook.get(client, name);
      const { hold, change } = holdAfter(
        current,
        verdict,
        { client, name, previous: previous.file, file: row.file, now: new Date(this.now()).toISOString() },
        rules,
      );
      if (hold) await this.holdBook.put(hold);
      else if (current) await this.holdBook.drop(client, name);
      if (change === "held" || change === "held-again") {
        this.log("warn", "archive.held", { client, name, file: hold!.kept, suspect: row.file, reason: verdict.reason });
        await this.audit({ event: "hold", client, name, file: hold!.kept, suspect: row.file, reason: verdict.reason });
      } else if (change === "released") {
        const reason = `${rules.releaseAfter} consistent backup(s) since the suspect one`;
        this.log("info", "archive.released", { client, name, file: current!.kept, suspect: current!.suspect, reason });
        await this.audit({ event: "release", client, name, file: current!.kept, suspect: current!.suspect, reason });
      }
      return true;
    } catch (err) {
      this.log("error", "hold.failed", {
        client,
        name,
        file: row.file,
        error: (err as Error).message,
        note: "retention skipped for this archive",
      });
      return false;
    }
  }

  /**
   * Trashes the archives of (client, name) beyond the newest retention.keep, counting `stored` (the
   * archive just stored, never trashed) first; never the one a hold keeps. Logs failures, never throws.
   */
  private async applyRetention(client: string, name: string, stored?: string): Promise<void> {
    const kept = this.holdBook.get(client, name)?.kept;
    const others = this.index
      .archives(client)
      .filter((e) => e.name === name && e.file !== kept && e.file !== stored)
      .reverse();
    const replacedBy = stored ?? others[0]?.file ?? "";
    for (const old of others.slice(stored ? this.retention.keep - 1 : this.retention.keep)) {
      try {
        const item = await moveToTrash(this.layout, old.client, old.file, this.now(), {
          archiveId: old.archiveId,
          fileSha256: old.fileSha256,
          size: old.size,
          storedAt: old.storedAt,
        });
        this.index.remove(old.client, old.file);
        this.log("info", "archive.trashed", { client: old.client, file: old.file, item, replacedBy });
        await this.audit({ event: "trash", client, name, file: old.file, item, replacedBy });
      } catch (err) {
        this.log("error", "retention.failed", { client: old.client, file: old.file, error: (err as Error).message });
      }
    }
  }

  /** Hands an event to the audit sink; a failure is logged, never thrown. */
  private async audit(event: AuditEvent): Promise<void> {
    if (!this.auditSink) return;
    try {
      await this.auditSink(event);
    } catch (err) {
      this.log("error", "audit.write-failed", { ...event, error: (err as Error).message });
    }
  }

  /**
   * An upload is over. Not stored: the members it staged join the client's pool (before its name is
   * freed, so the next upload of that name finds them). Stored: its staging file goes (the archive
   * holds every member). Then, under the client lock, the client's pool is swept. Never throws.
   */
  private async ended(upload: Upload, outcome: UploadOutcome): Promise<void> {
    const { client } = upload;
    const staging = outcome.staging;
    const keep = !outcome.committed && staging !== null && staging.members.length > 0;
    if (keep) this.pool.add(client, staging.path, staging.members, this.now());
    const key = `${client}/${upload.name}`;
    if (this.active.get(key) === upload) this.active.delete(key);
    try {
      await this.withClientLock(client, async () => {
        if (staging && !keep) await unlink(staging.path).catch(() => undefined);
        await this.sweepStaging(client);
      });
    } catch (err) {
      this.log("error", "staging.sweep-failed", { client, error: (err as Error).message });
    }
  }

  /** Drops the client's staging files that are stale, fully stored or over the cap, sparing those an active upload uses. */
  private async sweepStaging(client: string): Promise<void> {
    const pinned = new Set<string>();
    for (const upload of this.active.values()) {
      if (upload.client === client) for (const path of upload.filesInUse()) pinned.add(path);
    }
    const allStored = (members: readonly PoolMember[]) => members.every((m) => this.index.holds(client, m.id));
    await this.pool.sweep(client, this.now(), pinned, allStored);
  }

  private async withClientLock<T>(client: string, task: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(client) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => mine);
    this.locks.set(client, tail);
    await previous;
    try {
      return await task();
    } finally {
      release();
      if (this.locks.get(client) === tail) this.locks.delete(client);
    }
  }
}
