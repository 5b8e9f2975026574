// One archive being received: manifest pages → which chunks are needed → verified chunks in staging → commit.
import { HashRelayError } from "../errors.ts";
import type { ManifestEntry } from "../archive/manifest.ts";
import type { ArchiveFormat } from "../archive/naming.ts";
import { isZstdMember } from "../archive/zstd-member.ts";
import { sha256 } from "./archive-file.ts";
import type { IndexEntry } from "./index-entry.ts";
import { StagingWriter, type StagingRoom } from "./staging-writer.ts";
import { asStorageError } from "./storage-error.ts";
import { checkHeaderMatches, checkManifestWhole, storeArchive, type ArchiveSigning, type UploadHeader } from "./upload-commit.ts";
import { UploadEntries } from "./upload-entries.ts";
import type { UploadHandle, UploadHost, UploadParts } from "./upload-host.ts";
import { WriteAhead } from "./write-ahead.ts";

export { checkUploadHeader, type ArchiveSigning, type UploadHeader } from "./upload-commit.ts";

/**
 * One archive of source `name` being received from `client`. The client streams: it sends manifest
 * pages as it builds the archive, so the archive id and chunk count arrive only with commit().
 * Use: addManifestPage (in order), addChunk for every chunk asked for, then commit(header) — or abort(). After commit (success
 * or failure) or abort the upload is closed and every call throws BAD_FRAME.
 */
export class Upload implements UploadHandle {
  readonly client: string;
  readonly name: string;
  /** Where this upload stages the chunks it receives. */
  readonly stagingPath: string;
  private readonly host: UploadHost;
  private readonly parts: UploadParts;
  private readonly entries: UploadEntries;
  private readonly staging: StagingWriter;
  private readonly ahead: WriteAhead;
  /** The index of the last chunk that arrived (-1 before the first). */
  private lastArrived = -1;
  /** Staging files of the pool this upload counts on (they must stay until it ends). */
  private readonly pinned = new Set<string>();
  private closed = false;

  /** Use Store.beginUpload. */
  constructor(
    host: UploadHost,
    client: string,
    name: string,
    /** Member format of the archive being built; members the client has in the other format are converted at assembly. */
    readonly format: ArchiveFormat = "tar.gz",
    /** Hex ids of chunks known to be in this client's stored archives (the accepted base's members): no index probe for them. */
    private readonly knownStored: ReadonlySet<string> | null = null,
    /** Asked before each staging write (the space guard's, see upload-space.ts). */
    stagingRoom?: StagingRoom,
  ) {
    this.host = host;
    this.client = client;
    this.name = name;
    this.entries = new UploadEntries(name);
    this.staging = new StagingWriter(host.layout, client, name, stagingRoom);
    this.stagingPath = this.staging.path;
    this.parts = { host, client, name, format, entries: this.entries, staging: this.staging };
    this.ahead = new WriteAhead(this.parts, () => this.closed);
  }

  /**
   * Adds manifest entries [firstIndex, firstIndex + entries.length). Pages must come in order.
   * Returns, per entry, whether the server needs that chunk (planPage of need-plan.ts): false when
   * this client's stored archives or its staging pool (chunks of its earlier, unfinished uploads)
   * have it, or when it repeats an earlier entry of this upload. One index probe per entry not in
   * `knownStored`. `derived`: the page places of derived entries (PROTOCOL.md §8.5), always needed,
   * whose ids are those of the chunks that arrive for them. Throws BAD_FRAME on an out-of-order or
   * oversized page, a malformed entry, or a closed upload.
   */
  addManifestPage(firstIndex: number, entries: readonly ManifestEntry[], derived: readonly number[] = []): boolean[] {
    this.assertOpen();
    const needs = this.entries.addPage(
      firstIndex,
      entries,
      (entry, hex) => (this.knownStored?.has(hex) ? "stored" : this.host.findChunk(this.client, entry.id, hex)),
      derived,
    );
    for (const need of needs) if (need.kind === "have" && need.place !== "stored") this.pinned.add(need.place);
    this.ahead.nudge();
    return needs.map((need) => need.kind === "needed");
  }

  /**
   * Accepts the gzip member of chunk `index`. Throws synchronously: BAD_FRAME when that chunk was
   * not asked for (or already received) or the upload is closed; HASH_MISMATCH "chunk N of NAME does
   * not match its id" when the member does not inflate to exactly the entry's raw length and id (a
   * derived entry: its raw length, and its id becomes that of the bytes, deriveId) — nothing is stored
   * then; what staging failed with before (NO_SPACE, QUOTA, STORAGE). The returned promise resolves once
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
    const rawLength = this.entries.rawLength(index);
    const arrived = () => this.host.arrivals.rawOf(member, rawLength) ?? throwing(mismatch(index, name));
    if (this.entries.idUnknown(index)) this.deriveId(index, arrived);
    else if (!this.host.arrivals.matches(member, this.entries.id(index), rawLength)) throw mismatch(index, name);
    return this.stage(index, member.length, member);
  }

  /**
   * Accepts chunk `index` as raw bytes the server rebuilt itself (from a chunk delta, PROTOCOL.md §8.6)
   * and stages the member it makes of them in the upload's format (compressed off the main thread, in
   * the background: `raw` is handed over). Throws as addChunk: BAD_FRAME when that chunk was not asked
   * for or the upload is closed, HASH_MISMATCH "chunk N of NAME does not match its id" when `raw` is
   * not exactly the entry's raw length and id (checked on `raw` itself, before anything is compressed
   * or stored; a derived entry as in addChunk), what staging failed with before. Resolves as addChunk's promise.
   */
  addRawChunk(index: number, raw: Uint8Array): Promise<void> {
    this.expectNeeded(index);
    if (this.entries.idUnknown(index)) this.deriveId(index, () => raw);
    else if (raw.length !== this.entries.rawLength(index) || !Buffer.from(sha256(raw)).equals(Buffer.from(this.entries.id(index))))
      throw mismatch(index, this.name);
    return this.stage(index, raw.length, this.host.compress(raw, this.format));
  }

  /**
   * Bytes of chunks accepted but not yet in the staging file (members being compressed or written). A
   * session stops reading frames while this is large (it awaits the last chunk's promise).
   */
  get backlog(): number {
    return this.staging.backlog;
  }

  /**
   * Verifies the whole upload and stores the archive under `<root>/<client>/<file>`, then applies
   * retention. Throws BAD_FRAME (manifest incomplete, raw size wrong, chunks missing),
   * HASH_MISMATCH (manifest does not hash to the archive id, or a reused stored member no longer
   * matches its id), NO_SPACE (server.minFree, ENOSPC), QUOTA (the client's quota), STORAGE (the file name has another
   * archive; any other fs failure). When the file is already stored with this archive id, returns
   * its entry. With `signing`, the archive's signed record is written before it is renamed into place.
   * Nothing partial is ever left under a final name. The upload is closed afterwards, whatever
   * happened; when it failed, its staged chunks join the client's staging pool.
   */
  async commit(header: UploadHeader, signing?: ArchiveSigning): Promise<IndexEntry> {
    this.assertOpen();
    this.closed = true;
    let committed = false;
    try {
      checkHeaderMatches(this.parts, header);
      const fixed = { ...header };
      await this.staging.settled();
      if (this.staging.failure) throw this.staging.failure;
      checkManifestWhole(this.parts, fixed);
      const entry = await this.host.withClientLock(this.client, () => storeArchive(this.parts, this.ahead, fixed, signing));
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
    await this.staging.settled();
    await this.finish(false);
  }

  /** Staging files of the client's pool this upload relies on, and its own. */
  filesInUse(): string[] {
    return [this.stagingPath, ...this.pinned];
  }

  /** Manifest entry `index` as received so far, or undefined. */
  entryAt(index: number): ManifestEntry | undefined {
    return this.entries.entry(index);
  }

  /**
   * A derived entry's id (PROTOCOL.md §8.5): SHA-256 of the raw bytes `raw()` gives (throwing what it
   * throws, as a mismatch), once they are the entry's raw length; HASH_MISMATCH otherwise. The archive id
   * at commit checks the ids so made against the signed manifest.
   */
  private deriveId(index: number, raw: () => Uint8Array): void {
    let bytes: Uint8Array;
    try {
      bytes = raw();
    } catch {
      throw mismatch(index, this.name);
    }
    if (bytes.length !== this.entries.rawLength(index)) throw mismatch(index, this.name);
    this.entries.setId(index, sha256(bytes));
  }

  /** Throws unless chunk `index` may arrive now: BAD_FRAME when it was not asked for (or came already) or the upload is closed, what staging failed with. */
  private expectNeeded(index: number): void {
    this.assertOpen();
    if (this.staging.failure) throw this.staging.failure;
    if (!this.entries.isNeeded(index)) throw new HashRelayError("BAD_FRAME", `chunk ${index} of ${this.name} was not asked for`);
    // PROTOCOL.md §10 step 5: asked-for chunks come in ascending index order, so what is written ahead is final.
    if (index < this.lastArrived)
      throw new HashRelayError(
        "BAD_FRAME",
        `chunk ${index} of ${this.name} arrived after chunk ${this.lastArrived}: chunks go in ascending order`,
      );
  }

  /**
   * Records verified chunk `index` and queues the write of its member (`bytes` long before compression,
   * for the backlog) to the staging file, in arrival order (see addChunk). Once written, the archive
   * written ahead may read it from there.
   */
  private stage(index: number, bytes: number, member: Uint8Array | Promise<Uint8Array>): Promise<void> {
    this.entries.markReceived(index);
    this.lastArrived = index;
    return this.staging.append(index, this.entries.id(index), this.entries.rawLength(index), bytes, member, () => this.ahead.nudge());
  }

  /** Closes the staging file and hands the outcome to the store. Never throws. */
  private async finish(committed: boolean): Promise<void> {
    await (await this.ahead.take())?.discard();
    await this.host.ended(this, { committed, staging: await this.staging.close() });
  }

  /** Throws BAD_FRAME once the upload is committing or over. */
  private assertOpen(): void {
    if (this.closed) throw new HashRelayError("BAD_FRAME", `upload of ${this.name} is already finished`);
  }
}

/** Throws `err`: for the right side of `??`. */
function throwing(err: Error): never {
  throw err;
}

/** HASH_MISMATCH for chunk `index` of source `name`. */
function mismatch(index: number, name: string): HashRelayError {
  return new HashRelayError(
    "HASH_MISMATCH",
    `chunk ${index} of ${name} does not match its id`,
    "the client's archive changed or was damaged in transit; the next backup retries",
  );
}
