// Server storage: archives under their final names, the derived catalog, uploads, retention and the trash.
//
// On disk (see layout.ts):
//   <root>/<client>/backup-NAME-NOW.tar.gz         archives, complete and fsynced (users restore from these)
//   <root>/.trash/<client>/<item> + <item>.trashed  superseded archives and their trash time (trash.ts)
//   <root>/.hashrelay/catalog/<client>/<file>.json  derived: rebuilt by scanning when missing or stale
//   <root>/.hashrelay/tmp/                          archives being assembled; emptied on open
//   <root>/.hashrelay/staging/<client>/             chunks of unfinished uploads; emptied on open
// Crash safety: a file reaches its final name only by rename after fsync (then the folder is
// fsynced); the previous archive of a name moves to the trash only after that; so a crash leaves
// the old archive, or the new one, or both — never a partial file under a final name.
import { lstat, mkdir, open, readdir, rm, statfs, unlink } from "node:fs/promises";
import { join } from "node:path";
import { HashRelayError } from "../errors.ts";
import { isSlug } from "../config/slug.ts";
import { parseArchiveFileName } from "../archive/naming.ts";
import type { Level, LogFields } from "../io/log.ts";
import type { SignedDoc } from "../protocol/signed-document.ts";
import { inflateMember } from "../archive/gzip-member.ts";
import { CHUNK_MAX } from "../protocol/constants.ts";
import { readExactly, scanArchive } from "./archive-file.ts";
import {
  Catalog,
  isSignedDocShape,
  loadCatalogFiles,
  removeCatalogEntry,
  saveCatalogEntry,
  type CatalogEntry,
  type ChunkLocation,
} from "./catalog.ts";
import { StoreLayout, assertUnderRoot, checkArchiveFile, checkClient, checkName, pathExists, readdirOrEmpty } from "./layout.ts";
import { asStorageError } from "./storage-error.ts";
import { listTrash, moveToTrash, purgeExpired, type TrashItem } from "./trash.ts";
import { Upload, type UploadHost } from "./upload.ts";

export type StoreLog = (level: Level, event: string, fields: LogFields) => void;

export interface Retention {
  /** Archives kept per client and name (≥ 1); older ones go to the trash. */
  keep: number;
  /** How long a trashed archive waits before purgeTrash deletes it. */
  trashForMs: number;
}

export interface StoreOptions {
  log?: StoreLog;
  /** Clock in ms since the epoch (tests inject one). */
  now?: () => number;
  retention?: Retention;
  /** Free space that must remain after storing an archive. Default 64 MiB. */
  spaceMarginBytes?: number;
}

export const DEFAULT_RETENTION: Retention = { keep: 1, trashForMs: 48 * 3600 * 1000 };
export const DEFAULT_SPACE_MARGIN = 64 * 1024 * 1024;

export type { CatalogEntry, ChunkLocation, MemberRecord } from "./catalog.ts";
export type { TrashItem } from "./trash.ts";
export { Upload, type UploadHeader } from "./upload.ts";

/**
 * The server's storage under one root folder. Every client id, name and file given to a method is
 * checked first (BAD_FRAME when it is not a slug / not an archive name of that name), and every path
 * is asserted to stay under the root. Methods may be called concurrently: commits, retention and
 * receipts of one client run one at a time.
 */
export class Store {
  readonly root: string;
  private readonly layout: StoreLayout;
  private readonly catalog = new Catalog();
  private readonly log: StoreLog;
  private readonly now: () => number;
  private readonly spaceMargin: number;
  private retention: Retention = DEFAULT_RETENTION;
  private readonly locks = new Map<string, Promise<void>>();
  private readonly active = new Map<string, Upload>();
  private readonly host: UploadHost;

  private constructor(layout: StoreLayout, opts: StoreOptions) {
    this.layout = layout;
    this.root = layout.root;
    this.log = opts.log ?? (() => undefined);
    this.now = opts.now ?? Date.now;
    this.spaceMargin = opts.spaceMarginBytes ?? DEFAULT_SPACE_MARGIN;
    if (opts.retention) this.setRetention(opts.retention);
    this.host = {
      layout,
      log: this.log,
      now: this.now,
      chunkIndex: (client) => this.catalog.chunkIndex(client),
      withClientLock: (client, task) => this.withClientLock(client, task),
      existingEntry: (client, file) => this.existingEntry(client, file),
      ensureSpace: (bytes, what) => this.ensureSpace(bytes, what),
      stored: (entry) => this.stored(entry),
      finished: (upload) => {
        const key = `${upload.client}/${upload.name}`;
        if (this.active.get(key) === upload) this.active.delete(key);
      },
    };
  }

  /**
   * Opens (creating, mode 0750) the storage at `root`: empties .hashrelay/tmp and staging, loads the
   * catalog and rebuilds the entry of every archive that has none or a stale one (size or mtime
   * changed) by scanning it. A damaged archive is logged and left alone (not listed, never deleted).
   * Trashed items without a recorded trash time get one dated now. Throws STORAGE (e.g. EACCES).
   */
  static async open(root: string, opts: StoreOptions = {}): Promise<Store> {
    try {
      return await Store.openOrThrow(new StoreLayout(root), opts);
    } catch (err) {
      throw asStorageError(err, `cannot open storage ${root}`);
    }
  }

  private static async openOrThrow(layout: StoreLayout, opts: StoreOptions): Promise<Store> {
    await mkdir(layout.root, { recursive: true, mode: 0o750 });
    for (const dir of [layout.trashRoot(), layout.derivedDir(), layout.catalogRoot(), layout.tmpDir(), layout.stagingRoot()]) {
      await mkdir(dir, { recursive: true, mode: 0o750 });
    }
    const store = new Store(layout, opts);
    for (const dir of [layout.tmpDir(), layout.stagingRoot()]) {
      for (const item of await readdir(dir)) {
        const path = join(dir, item);
        assertUnderRoot(layout.root, path);
        await rm(path, { recursive: true, force: true });
        store.log("info", "store.leftover-removed", { path });
      }
    }
    await store.loadCatalog();
    await listTrash(layout, store.now(), store.log);
    return store;
  }

  /** The newest stored archive of (client, name), or undefined. Throws BAD_FRAME on a bad client or name. */
  latest(client: string, name: string): CatalogEntry | undefined {
    checkClient(client);
    checkName(name);
    return this.catalog.entries(client).filter((e) => e.name === name).at(-1);
  }

  /** Every archive stored for `client`, oldest first. Entries are shared: do not mutate them. Throws BAD_FRAME on a bad client. */
  list(client: string): CatalogEntry[] {
    checkClient(client);
    return this.catalog.entries(client);
  }

  /** The newest stored archive of (client, name) with this archive id, or undefined. Throws BAD_FRAME on a bad client or name. */
  find(client: string, name: string, archiveId: string): CatalogEntry | undefined {
    checkClient(client);
    checkName(name);
    return this.catalog.entries(client).filter((e) => e.name === name && e.archiveId === archiveId).at(-1);
  }

  /** The newest stored archive of `client` with this archive id, whatever its name, or undefined. */
  findById(client: string, archiveId: string): CatalogEntry | undefined {
    checkClient(client);
    return this.catalog.entries(client).filter((e) => e.archiveId === archiveId).at(-1);
  }

  /**
   * The raw bytes of a chunk this client's stored archives hold, or null when none holds it. Reads
   * and inflates one member; the caller checks what it builds from it against a chunk id. Throws
   * STORAGE when the archive cannot be read or the member is damaged.
   */
  async readChunk(client: string, idHex: string): Promise<Uint8Array | null> {
    const location = this.chunkIndex(client).get(idHex);
    if (!location) return null;
    const handle = await open(this.layout.archivePath(client, location.file), "r").catch((err) => {
      throw new HashRelayError("STORAGE", `cannot read ${client}/${location.file}: ${(err as Error).message}`);
    });
    try {
      const member = await readExactly(handle, location.offset, location.length, `${client}/${location.file}`);
      try {
        return inflateMember(member, CHUNK_MAX);
      } catch (err) {
        throw new HashRelayError("STORAGE", `${client}/${location.file}: member at ${location.offset} is damaged (${(err as Error).message})`);
      }
    } finally {
      await handle.close();
    }
  }

  /** chunk id (hex) → member location, over this client's stored archives only. Do not mutate. Throws BAD_FRAME on a bad client. */
  chunkIndex(client: string): Map<string, ChunkLocation> {
    checkClient(client);
    return this.catalog.chunkIndex(client);
  }

  /**
   * Starts receiving an archive of source `name`. Throws BAD_FRAME on a bad client or name, BUSY
   * when an upload of the same name for this client is in progress. The archive's file name and id
   * come with Upload.commit().
   */
  beginUpload(client: string, name: string): Upload {
    checkClient(client);
    checkName(name);
    const key = `${client}/${name}`;
    if (this.active.has(key)) {
      throw new HashRelayError("BUSY", `an upload of ${name} for ${client} is already in progress`, "retry after it ends");
    }
    const upload = new Upload(this.host, client, name);
    this.active.set(key, upload);
    return upload;
  }

  /**
   * Stores the signed receipt in the archive's catalog entry (atomic write) and returns the updated
   * entry. Throws BAD_FRAME on a bad client or file, INTERNAL when `receipt` is not a {body, sig, key}
   * document, STORAGE when that archive is not stored (any more).
   */
  async setReceipt(client: string, file: string, receipt: SignedDoc): Promise<CatalogEntry> {
    checkClient(client);
    checkArchiveFile(parseArchiveFileName(file)?.name ?? "", file);
    if (!isSignedDocShape(receipt)) throw new HashRelayError("INTERNAL", `receipt for ${client}/${file} is not a signed document`);
    return this.withClientLock(client, async () => {
      const entry = this.catalog.get(client, file);
      if (!entry) throw new HashRelayError("STORAGE", `no archive ${file} is stored for ${client}`);
      const updated: CatalogEntry = { ...entry, receipt: { body: receipt.body, sig: receipt.sig, key: receipt.key } };
      await saveCatalogEntry(this.layout, updated).catch((err) => {
        throw asStorageError(err, `cannot record the receipt of ${client}/${file}`);
      });
      this.catalog.put(updated);
      return updated;
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
    return purgeExpired(this.layout, trashForMs, this.now(), this.log).catch((err) => {
      throw asStorageError(err, "cannot purge the trash");
    });
  }

  /** Sets retention for later commits and purges. Throws CONFIG when keep < 1 or trashForMs < 0. */
  setRetention(retention: Retention): void {
    const { keep, trashForMs } = retention;
    if (!Number.isSafeInteger(keep) || keep < 1) {
      throw new HashRelayError("CONFIG", `retention.keep must be a whole number ≥ 1, got ${keep}`);
    }
    if (!Number.isFinite(trashForMs) || trashForMs < 0) {
      throw new HashRelayError("CONFIG", `retention.trashFor must be a duration ≥ 0, got ${trashForMs} ms`);
    }
    this.retention = { keep, trashForMs };
  }

  // ---- internals ----

  private async loadCatalog(): Promise<void> {
    const invalid: string[] = [];
    const saved = new Map<string, CatalogEntry>();
    for (const entry of await loadCatalogFiles(this.layout, (path, reason) => {
      invalid.push(path);
      this.log("warn", "catalog.invalid", { path, reason });
    })) {
      saved.set(`${entry.client}/${entry.file}`, entry);
    }
    for (const path of invalid) await unlink(path).catch(() => undefined);

    for (const client of await readdirOrEmpty(this.layout.root)) {
      if (client.startsWith(".")) continue;
      if (!isSlug(client)) {
        this.log("debug", "store.ignored", { path: client, reason: "not a client folder" });
        continue;
      }
      const dir = this.layout.clientDir(client);
      if (!(await lstat(dir)).isDirectory()) continue;
      for (const file of await readdirOrEmpty(dir)) {
        const parsed = parseArchiveFileName(file);
        if (!parsed || !isSlug(parsed.name)) {
          this.log("debug", "store.ignored", { path: `${client}/${file}`, reason: "not an archive name" });
          continue;
        }
        const path = this.layout.archivePath(client, file);
        const stats = await lstat(path);
        if (!stats.isFile()) continue;
        const key = `${client}/${file}`;
        const cached = saved.get(key);
        saved.delete(key);
        if (cached && cached.size === stats.size && cached.mtimeMs === stats.mtimeMs) {
          this.catalog.put(cached);
          continue;
        }
        try {
          const entry = await this.scanEntry(client, parsed.name, file);
          await saveCatalogEntry(this.layout, entry);
          this.log("info", "catalog.rebuilt", { client, file, members: entry.members.length });
        } catch (err) {
          this.log("error", "archive.damaged", { client, file, error: (err as Error).message });
          if (cached) await removeCatalogEntry(this.layout, client, file);
        }
      }
    }
    for (const stale of saved.values()) {
      await removeCatalogEntry(this.layout, stale.client, stale.file);
      this.log("info", "catalog.orphan-removed", { client: stale.client, file: stale.file });
    }
  }

  /** Scans `<client>/<file>` and puts its entry (no receipt) in the catalog. Throws STORAGE when damaged. */
  private async scanEntry(client: string, name: string, file: string): Promise<CatalogEntry> {
    const scanned = await scanArchive(this.layout.archivePath(client, file));
    const entry: CatalogEntry = {
      client,
      name,
      file,
      archiveId: scanned.archiveId,
      fileSha256: scanned.fileSha256,
      size: scanned.size,
      mtimeMs: scanned.mtimeMs,
      storedAt: new Date(scanned.mtimeMs).toISOString(),
      members: scanned.members,
    };
    this.catalog.put(entry);
    return entry;
  }

  private async existingEntry(client: string, file: string): Promise<CatalogEntry | undefined> {
    const known = this.catalog.get(client, file);
    if (known) return known;
    if (!(await pathExists(this.layout.archivePath(client, file)))) return undefined;
    const name = parseArchiveFileName(file)?.name ?? "";
    checkArchiveFile(name, file);
    try {
      const entry = await this.scanEntry(client, name, file);
      await saveCatalogEntry(this.layout, entry).catch(() => undefined);
      return entry;
    } catch (err) {
      throw new HashRelayError("STORAGE", `${client}/${file} already exists and is not a valid archive`, "a stored file is never overwritten", { cause: err });
    }
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
  private async stored(entry: CatalogEntry): Promise<void> {
    this.catalog.put(entry);
    this.log("info", "archive.stored", { client: entry.client, file: entry.file, size: entry.size });
    try {
      await saveCatalogEntry(this.layout, entry);
    } catch (err) {
      this.log("error", "catalog.write-failed", { client: entry.client, file: entry.file, error: (err as Error).message });
    }
    const others = this.catalog
      .entries(entry.client)
      .filter((e) => e.name === entry.name && e.file !== entry.file)
      .reverse();
    for (const old of others.slice(this.retention.keep - 1)) {
      try {
        const item = await moveToTrash(this.layout, old.client, old.file, this.now());
        this.catalog.remove(old.client, old.file);
        await removeCatalogEntry(this.layout, old.client, old.file);
        this.log("info", "archive.trashed", { client: old.client, file: old.file, item, replacedBy: entry.file });
      } catch (err) {
        this.log("error", "retention.failed", { client: old.client, file: old.file, error: (err as Error).message });
      }
    }
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
