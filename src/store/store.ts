// Server storage behind one facade: opens the root, owns the shared state, and hands each call to the part that does it.
//
// On disk (see layout.ts):
//   <root>/<client>/backup-NAME-NOW.tar.gz         archives, complete and fsynced (users restore from these)
//   <root>/.signed/<client>/<file>.json             the client's signed manifest and our receipt (signed-record.ts); follows the archive
//   <root>/.trash/<client>/<item> + <item>.trashed  superseded archives and their trash time (trash.ts)
//   <root>/.holds/<client>/<name>.json              a held name: its last good archive escapes retention (holds.ts)
//   <root>/.hashrelay/index.sqlite                  derived chunk index (chunk-index.ts): rebuilt by scanning when missing, stale or damaged
//   <root>/.hashrelay/tmp/                          archives being assembled; emptied on open
//   <root>/.hashrelay/staging/<client>/*.part       chunks of unfinished uploads: the client's staging pool (staging-pool.ts)
//   <root>/.hashrelay/damaged.json, scrub.json      archives found damaged (damage-book.ts), the scheduled scrub's progress
// Crash safety: a file reaches its final name only by rename after fsync (then the folder is fsynced); the previous
// archive of a name moves to the trash only after that; so a crash leaves the old archive, or the new one, or both.
// The parts: index-sync.ts (index ↔ disk), upload-registry.ts and upload.ts (receiving archives),
// space-guard.ts (minFree, quotas, abandoned staging released when room is needed),
// archive-accepted.ts → bucket-publish.ts (S3 storage) → hold-guard.ts → retention.ts (after each commit), trashed-archives.ts,
// archive-reader.ts, verify-archive.ts, receipt.ts, signed-record.ts, damage-*.ts, scheduled-scrub.ts; store-context.ts: shared state.
import { mkdir, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { parseArchiveFileName, type ArchiveFormat } from "../archive/naming.ts";
import type { SignedDoc } from "../protocol/signed-document.ts";
import { archiveToSend, readChunk, type ArchiveSource } from "./archive-reader.ts";
import { IndexedBase } from "./base-entries.ts";
import { BlockSharing } from "./block-sharing.ts";
import { ChunkIndex } from "./chunk-index.ts";
import { DamageBook } from "./damage-book.ts";
import { ScheduledScrub } from "./scheduled-scrub.ts";
import { applyReleaseRequests, releaseHold } from "./hold-guard.ts";
import { HoldBook, type Hold } from "./holds.ts";
import type { ChunkLocation, IndexEntry } from "./index-entry.ts";
import { refreshClient, syncIndex } from "./index-sync.ts";
import { StoreLayout, assertUnderRoot, checkArchiveFile, checkClient, checkName, pathExists } from "./layout.ts";
import type { OpenFiles } from "./open-files.ts";
import { recordReceipt } from "./receipt.ts";
import { checkedRetention, type Retention } from "./retention-rules.ts";
import { diskFreeBytes, type FreeSpaceProbe } from "./free-space.ts";
import type { ClientUsage, SpaceReport, SpaceRules } from "./space-guard.ts";
import { STAGING_CAP_BYTES, STAGING_STALE_MS, StagingPool } from "./staging-pool.ts";
import { asStorageError } from "./storage-error.ts";
import { StoreContext, type AuditSink, type StoreParts } from "./store-context.ts";
import type { StoreLog } from "./store-log.ts";
import { listTrash, type TrashItem } from "./trash.ts";
import { listTrashedAnywhere, purgeTrash, type TrashedArchive } from "./trashed-archives.ts";
import type { Upload } from "./upload.ts";
import { UploadRegistry } from "./upload-registry.ts";
import { verifyArchive, type ScrubReport } from "./verify-archive.ts";

export interface StoreOptions {
  log?: StoreLog;
  /** Clock in ms since the epoch (tests inject one). */
  now?: () => number;
  retention?: Retention;
  /** Free bytes the storage disk keeps (server.minFree) and each client's quota; default DEFAULT_SPACE_RULES. Store.setSpaceRules changes them. */
  space?: SpaceRules;
  /** Free bytes on the storage file system (tests give a fake). Default: statfs. */
  freeSpace?: FreeSpaceProbe;
  /** A staging file not written for this long is dropped. Default STAGING_STALE_MS (24 h). */
  stagingStaleMs?: number;
  /** Staged bytes kept per client; beyond, the oldest staging files go. Default STAGING_CAP_BYTES (4 GiB). */
  stagingCapBytes?: number;
  audit?: AuditSink;
  /** An S3 storage (connectBucket): every archive is published to the bucket before its commit returns; `root` is its cache. */
  bucket?: StoreParts["bucket"];
}

export type { AuditSink } from "./store-context.ts";
export { DEFAULT_RETENTION, type Retention } from "./retention-rules.ts";
export type { StoreLog } from "./store-log.ts";
export type { ArchiveRow, IndexEntry, ChunkLocation, MemberRecord } from "./index-entry.ts";
export type { DamagedMember } from "./archive-file.ts";
export type { ScrubStepReport } from "./scheduled-scrub.ts";
export { scrubStepMs } from "./scrub-schedule.ts";
export type { TrashItem } from "./trash.ts";
export type { AuditEvent } from "./audit-chain.ts";
export type { Hold } from "./holds.ts";
export { DEFAULT_SUSPECT_RULES, type SuspectRules } from "./suspect-replacement.ts";
export { STAGING_CAP_BYTES, STAGING_STALE_MS } from "./staging-pool.ts";
export { DEFAULT_MIN_FREE, DEFAULT_SPACE_RULES, type ClientUsage, type SpaceReport, type SpaceRules } from "./space-guard.ts";
export { MAX_UPLOADS_PER_CLIENT } from "./upload-registry.ts";
export { Upload, type ArchiveSigning, type UploadHeader } from "./upload.ts";
export type { ReceiptFacts, SignedRecord } from "./signed-record.ts";
export { OpenFiles } from "./open-files.ts";
export type { ArchiveSource } from "./archive-reader.ts";
export type { ScrubReport } from "./verify-archive.ts";
export type { TrashedArchive } from "./trashed-archives.ts";

/**
 * The server's storage under one root folder. Every client id, name and file given to a method is
 * checked first (BAD_FRAME when it is not a slug / not an archive name of that name), and every path
 * is asserted to stay under the root. Methods may be called concurrently: commits, retention,
 * receipts and staging sweeps of one client run one at a time.
 */
export class Store {
  readonly root: string;
  private readonly ctx: StoreContext;
  private readonly uploads: UploadRegistry;
  /** The scheduled scrub (server.scrub): step() reads the next share of the store, `current` says what it did. */
  readonly scrub: ScheduledScrub;

  private constructor(ctx: StoreContext, freeSpace: FreeSpaceProbe) {
    this.ctx = ctx;
    this.scrub = new ScheduledScrub(ctx);
    this.root = ctx.layout.root;
    this.uploads = new UploadRegistry(ctx, freeSpace);
  }

  /**
   * Opens (creating, mode 0750) the storage at `root`: empties .hashrelay/tmp; opens the chunk index
   * (a damaged one is moved aside and made anew) and brings it in line with the archives on disk,
   * scanning every archive it lacks or has stale (size or mtime changed); reads the staging pool
   * (verifying every staged member, cutting damaged tails, dropping stale files). A damaged archive
   * is logged and left alone (not listed, never deleted). Trashed items without a recorded trash time
   * get one dated now. Throws STORAGE (e.g. EACCES), CONFIG on bad retention.
   */
  static async open(root: string, opts: StoreOptions = {}): Promise<Store> {
    try {
      return await Store.openOrThrow(new StoreLayout(root), opts);
    } catch (err) {
      throw asStorageError(err, `cannot open storage ${root}`);
    }
  }

  /** open() without the error wrapping: prepares the folders, then opens and syncs the parts; closes them again on failure. */
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
    const holdBook = await HoldBook.load(layout, (event, fields) => log("error", event, fields));
    const damage = await DamageBook.load(layout, log);
    const index = await ChunkIndex.open(layout.indexPath(), log, now());
    const pool = new StagingPool(layout, log, {
      staleMs: opts.stagingStaleMs ?? STAGING_STALE_MS,
      capBytes: opts.stagingCapBytes ?? STAGING_CAP_BYTES,
    });
    const sharing = await BlockSharing.probe(layout, log, now());
    const store = new Store(
      new StoreContext({ layout, index, pool, holdBook, damage, log, sharing, now, audit: opts.audit, bucket: opts.bucket }),
      opts.freeSpace ?? diskFreeBytes,
    );
    if (opts.retention) store.setRetention(opts.retention);
    if (opts.space) store.setSpaceRules(opts.space);
    try {
      await syncIndex(store.ctx);
      await pool.load(now());
      for (const client of pool.clients()) await store.uploads.sweepStaging(client);
      await listTrash(layout, now(), log);
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
    await this.uploads.close();
    try {
      this.ctx.index.close();
    } catch (err) {
      this.ctx.log("warn", "index.close-failed", { error: (err as Error).message });
    }
  }

  /** The newest stored archive of (client, name), or undefined. Throws BAD_FRAME on a bad client or name. */
  latest(client: string, name: string): IndexEntry | undefined {
    checkClient(client);
    checkName(name);
    return this.list(client)
      .filter((e) => e.name === name)
      .at(-1);
  }

  /** Every archive stored for `client`, oldest first; members are read from the index when first used. Throws BAD_FRAME on a bad client. */
  list(client: string): IndexEntry[] {
    checkClient(client);
    return this.ctx.index.archives(client).map((row) => this.ctx.index.entry(row));
  }

  /** The newest stored archive of (client, name) with this archive id, or undefined. Throws BAD_FRAME on a bad client or name. */
  find(client: string, name: string, archiveId: string): IndexEntry | undefined {
    checkClient(client);
    checkName(name);
    return this.list(client)
      .filter((e) => e.name === name && e.archiveId === archiveId)
      .at(-1);
  }

  /** The newest stored archive of `client` with this archive id, whatever its name, or undefined. */
  findById(client: string, archiveId: string): IndexEntry | undefined {
    checkClient(client);
    return this.list(client)
      .filter((e) => e.archiveId === archiveId)
      .at(-1);
  }

  /**
   * The raw bytes of a chunk this client's stored archives contain, or null when none does: a view valid
   * until the next read through `files`. Reads and inflates one member; the caller checks what it builds
   * from it against a chunk id. Throws BAD_FRAME on a bad client or id, STORAGE when the archive cannot be read or the member is damaged.
   * The archive stays open in `files` for the next reads, and the member is read with one blocking
   * pread: a session rebuilding chunks from deltas reads one small member per chunk, mostly from the
   * page cache, and three thread-pool round trips each cost more than the read.
   */
  readChunk(client: string, idHex: string, files: OpenFiles): Uint8Array | null {
    checkClient(client);
    return readChunk(this.ctx, client, idHex, files);
  }

  /**
   * chunk id (hex) → member location over this client's stored archives only (newest archive wins).
   * Built from the index on every call, O(chunks of the client): for tests and tools; uploads ask the
   * index one chunk at a time. Throws BAD_FRAME on a bad client.
   */
  chunkIndex(client: string): Map<string, ChunkLocation> {
    checkClient(client);
    return this.ctx.index.chunkMap(client);
  }

  /** The staging files (names) in this client's staging pool, oldest first. Throws BAD_FRAME on a bad client. */
  stagingFiles(client: string): string[] {
    checkClient(client);
    return this.ctx.pool.items(client);
  }

  /**
   * Scrubs one stored archive: reads and inflates every member the index lists and checks it against
   * its chunk id (commits only compare a member's SHA-256 with the one recorded). Damage found is
   * recorded (`by` found it: damage-book.ts, archive.damaged, the audit log); the archive is never
   * changed. Throws BAD_FRAME on a bad client or file, STORAGE when it is not stored or cannot be read.
   */
  async verifyArchive(client: string, file: string, by: "scrub" | "verify" = "verify"): Promise<ScrubReport> {
    checkClient(client);
    checkArchiveFile(parseArchiveFileName(file)?.name ?? "", file);
    return verifyArchive(this.ctx, client, file, by);
  }

  /** The archives known damaged (damage-book.ts), read only: the scrub, `server verify` and commits record them. */
  get damage(): Pick<DamageBook, "get" | "all"> {
    return this.ctx.damage;
  }

  /**
   * The archives of `client` in the trash (the cache's; an S3 storage's bucket's too), oldest trashed first,
   * with their purge time (trash time + retention.trashForMs). Throws BAD_FRAME on a bad client, STORAGE.
   */
  async listTrashed(client: string): Promise<TrashedArchive[]> {
    checkClient(client);
    return listTrashedAnywhere(this.ctx, client);
  }

  /**
   * An archive of `client` to send back (restore): the stored file `file` of source `name`, else the
   * newest trashed item that was that file, with what its receipt attests and its signed record.
   * `members` reads its members in file order with their chunk ids and raw lengths (the index's for a
   * stored archive, a scan's for a trashed one); the reader checks nothing, the restoring client does. Throws BAD_FRAME on a bad client, name or file,
   * STORAGE when no such archive is there or it cannot be read.
   */
  async archiveToSend(client: string, name: string, file: string): Promise<ArchiveSource> {
    checkClient(client);
    checkArchiveFile(name, file);
    return archiveToSend(this.ctx, client, file);
  }

  /**
   * The manifest of `client`'s newest stored archive with this archive id, as an upload's base: read
   * from the index a page at a time (never held whole); undefined when no such archive is stored.
   * Throws BAD_FRAME on a bad client.
   */
  base(client: string, archiveId: string): IndexedBase | undefined {
    const entry = this.findById(client, archiveId);
    return entry && new IndexedBase(this.ctx.index, client, entry.file);
  }

  /**
   * Before an upload of `name` for `client` begins (asked at each offer that needs one): throws QUOTA when the
   * client's quota is used up, NO_SPACE when the disk is down to server.minFree even after abandoned staging
   * (any client's, oldest first) is released, BUSY when another server on the bucket stores that name
   * (UploadRegistry.admit); BAD_FRAME on a bad client or name, STORAGE when the disk cannot be asked.
   */
  async admitUpload(client: string, name: string): Promise<void> {
    checkClient(client);
    checkName(name);
    try {
      await this.uploads.admit(client, name);
    } catch (err) {
      throw asStorageError(err, `cannot check the room for ${client}/${name}`);
    }
  }

  /**
   * Starts receiving an archive of source `name`; its staging writes and archive batches ask for room
   * as they go (NO_SPACE, QUOTA: see Upload). Throws BAD_FRAME on a bad client or name, BUSY when an
   * upload of the same name for this client is in progress or the client has MAX_UPLOADS_PER_CLIENT.
   * The archive's file name and id come with Upload.commit(). `knownStored`: hex ids of chunks in this
   * client's stored archives (the accepted base's members), answered without an index probe.
   */
  beginUpload(client: string, name: string, format: ArchiveFormat = "tar.gz", knownStored: ReadonlySet<string> | null = null): Upload {
    checkClient(client);
    checkName(name);
    return this.uploads.begin(client, name, format, knownStored);
  }

  /**
   * Stores the signed receipt with the archive's index entry and in its signed record (the client's
   * manifest there is kept), and returns the updated entry. Throws
   * BAD_FRAME on a bad client or file, INTERNAL when `receipt` is not a {body, sig, key} document,
   * STORAGE when that archive is not stored (any more) or the index cannot be written.
   */
  async setReceipt(client: string, file: string, receipt: SignedDoc): Promise<IndexEntry> {
    checkClient(client);
    checkArchiveFile(parseArchiveFileName(file)?.name ?? "", file);
    return recordReceipt(this.ctx, client, file, receipt);
  }

  /**
   * Deletes trashed archives whose trash time + trashForMs ≤ now and returns them. Touches nothing
   * but .trash; items it cannot delete are logged and kept. Throws CONFIG on a bad duration, STORAGE
   * when the trash cannot be listed.
   */
  async purgeTrash(trashForMs: number = this.ctx.retention.trashForMs): Promise<TrashItem[]> {
    return purgeTrash(this.ctx, trashForMs);
  }

  /** Sets retention for later commits and purges. Throws CONFIG when keep < 1 or trashForMs < 0. */
  setRetention(retention: Retention): void {
    this.ctx.retention = checkedRetention(retention);
  }

  /** Sets server.minFree and the clients' quotas for every later request for room (uploads in progress included). */
  setSpaceRules(rules: SpaceRules): void {
    this.uploads.space.rules = rules;
  }

  /** What `client` takes on the disk (archives, trash, staging). Throws BAD_FRAME on a bad client, fs errors. */
  async usage(client: string): Promise<ClientUsage> {
    checkClient(client);
    return this.uploads.space.usage(client);
  }

  /** The space rules in force, the staging of each client, what was released and refused (for /metrics). */
  spaceReport(): SpaceReport {
    return this.uploads.space.report();
  }

  /** The hold on (client, name), or undefined. Throws BAD_FRAME on a bad client or name. */
  holdOf(client: string, name: string): Hold | undefined {
    checkClient(client);
    checkName(name);
    return this.ctx.holdBook.get(client, name);
  }

  /** Every hold, by client and name. */
  holds(): Hold[] {
    return this.ctx.holdBook.all().sort((a, b) => a.client.localeCompare(b.client) || a.name.localeCompare(b.name));
  }

  /**
   * Lifts the hold on (client, name) and applies retention to that name at once (the kept archive goes
   * to the trash like any superseded one, unless retention.keep keeps it). Returns the hold, or
   * undefined when the name was not held. Throws BAD_FRAME on a bad client or name, STORAGE when the
   * hold file cannot be deleted.
   */
  async release(client: string, name: string, by: string): Promise<Hold | undefined> {
    return releaseHold(this.ctx, client, name, by);
  }

  /**
   * Applies the release requests `hashrelay release` left under .holds (see holds.ts), deleting each
   * once done (also when nothing was held, or it failed: logged). Returns what was released. Never throws.
   */
  async applyReleaseRequests(): Promise<Hold[]> {
    return applyReleaseRequests(this.ctx);
  }

  /**
   * Before a backup of `client` is answered: the index is checked against its folder (one lstat per archive), so an
   * archive deleted, truncated or replaced behind the server's back is neither counted as stored nor used as a source
   * of chunks (the next upload sends it); on an S3 storage the cache follows the bucket first. `bucketOnly` (before ls,
   * restore, verify): only on an S3 storage, as a local file damaged in place must reach the client, which names it.
   * Under the client lock; throws BAD_FRAME on a bad client, nothing else (failures are logged).
   */
  async refreshClient(client: string, bucketOnly = false): Promise<void> {
    checkClient(client);
    if (bucketOnly && !this.ctx.bucket) return;
    await refreshClient(this.ctx, client);
  }
}
