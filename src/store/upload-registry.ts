// The uploads in progress: at most one per client and name and a few per client, the host they run against, their room, and the staging sweep when one ends.
import { unlink } from "node:fs/promises";
import { HashRelayError } from "../errors.ts";
import type { ArchiveFormat } from "../archive/naming.ts";
import { ArrivalCheck } from "./arrival-check.ts";
import { MemberCompressor } from "./member-compressor.ts";
import { acceptArchive } from "./archive-accepted.ts";
import { chunkIdHex } from "../archive/manifest.ts";
import { recordReusedDamage } from "./damage-found.ts";
import { findChunk, reusableMembers } from "./chunk-places.ts";
import type { FreeSpaceProbe } from "./free-space.ts";
import { existingEntry } from "./index-sync.ts";
import { SpaceGuard } from "./space-guard.ts";
import type { PoolMember } from "./staging-pool.ts";
import type { StoreContext } from "./store-context.ts";
import { Upload } from "./upload.ts";
import type { UploadHandle, UploadHost, UploadOutcome } from "./upload-host.ts";
import type { UploadSpace } from "./upload-space.ts";

/**
 * Uploads one client may have in progress at once. Its ticks upload one source at a time; the second
 * covers a session the client left that the server has not yet seen end. Each upload holds buffers
 * (frames read ahead, chunks being written, the archive written ahead): a client with dozens of
 * sessions cannot hold dozens of them.
 */
export const MAX_UPLOADS_PER_CLIENT = 2;

/** Starts the store's uploads (Store.beginUpload), serves them, and tidies up after each. */
export class UploadRegistry {
  /** Shares the disk between the uploads: minFree, quotas, abandoned staging released when room is needed. */
  readonly space: SpaceGuard;
  private readonly active = new Map<string, { upload: Upload; space: UploadSpace }>();
  /** What every upload runs against; each gets its own writeArchive (its UploadSpace). */
  private readonly host: Omit<UploadHost, "writeArchive">;
  private readonly compressor = new MemberCompressor();

  constructor(
    private readonly ctx: StoreContext,
    probe: FreeSpaceProbe,
  ) {
    this.space = new SpaceGuard(ctx, probe, () => this.filesInUse());
    this.host = {
      layout: ctx.layout,
      log: ctx.log,
      sharing: ctx.sharing,
      now: ctx.now,
      findChunk: (client, id, hex) => findChunk(ctx, client, id, hex),
      reusableMembers: (client, ids, after) => reusableMembers(ctx, client, ids, after),
      reusedDamaged: (err) => recordReusedDamage(ctx, err),
      knownDamaged: (client, id) => ctx.damage.hasChunk(client, chunkIdHex(id)),
      withClientLock: (client, task) => ctx.withClientLock(client, task),
      existingEntry: (client, file) => existingEntry(ctx, client, file),
      accepted: (row, members, stored) => acceptArchive(ctx, row, members, stored),
      ended: (upload, outcome) => this.ended(upload, outcome),
      arrivals: new ArrivalCheck(),
      // Chunks rebuilt from deltas are compressed on worker threads (started at the first one): the session goes on reading frames meanwhile.
      compress: (raw, format) => this.compressor.compress(raw, format),
    };
  }

  /**
   * A new upload of source `name` for `client` (both checked), its staging writes and archive batches
   * asking the space guard for room. Throws BAD_FRAME on an unknown format, BUSY when an upload of the
   * same name for this client is in progress or the client has MAX_UPLOADS_PER_CLIENT in progress.
   */
  begin(client: string, name: string, format: ArchiveFormat, knownStored: ReadonlySet<string> | null): Upload {
    if (format !== "tar.gz" && format !== "tar.zst")
      throw new HashRelayError("BAD_FRAME", `unknown archive format ${String(format).slice(0, 20)}`);
    const key = `${client}/${name}`;
    if (this.active.has(key)) {
      void this.releaseLease(client, name); // the one admit took for this offer
      throw new HashRelayError("BUSY", `an upload of ${name} for ${client} is already in progress`, "retry after it ends");
    }
    const inProgress = [...this.active.values()].filter((a) => a.upload.client === client);
    if (inProgress.length >= MAX_UPLOADS_PER_CLIENT) {
      void this.releaseLease(client, name);
      const names = inProgress.map((a) => a.upload.name).join(", ");
      throw new HashRelayError("BUSY", `${client} already has ${inProgress.length} uploads in progress (${names})`, "retry after one ends");
    }
    const space = this.space.open(client, name);
    const host: UploadHost = { ...this.host, writeArchive: (bytes, what, write) => space.writeArchive(bytes, what, write) };
    const upload = new Upload(host, client, name, format, knownStored, (bytes) => space.forStaging(bytes));
    this.active.set(key, { upload, space });
    return upload;
  }

  /**
   * Before an upload of (client, name) begins: room on the disk and in the quota (SpaceGuard.admit), and
   * on an S3 storage the bucket's lease on the name (BUSY while another server stores it); begin() or
   * the upload's end gives the lease back.
   */
  async admit(client: string, name: string): Promise<void> {
    await this.space.admit(client, name);
    const bucket = this.ctx.bucket;
    if (bucket) await bucket.leases.take(bucket.leaseBase(client, name));
  }

  private async releaseLease(client: string, name: string): Promise<void> {
    const bucket = this.ctx.bucket;
    if (bucket) await bucket.leases.release(bucket.leaseBase(client, name));
  }

  /** Aborts every upload in progress (their staged chunks stay for the next open) and stops the compression workers. Never throws. */
  async close(): Promise<void> {
    for (const { upload } of [...this.active.values()]) await upload.abort();
    this.compressor.close();
  }

  /** Every staging file an upload in progress writes or relies on. */
  private filesInUse(): Set<string> {
    const paths = new Set<string>();
    for (const { upload } of this.active.values()) for (const path of upload.filesInUse()) paths.add(path);
    return paths;
  }

  /**
   * Drops the client's staging files that are stale, fully stored or over the cap, sparing those an
   * active upload uses. Call it under the client lock (or at open, before anything else runs). Throws fs errors.
   */
  async sweepStaging(client: string): Promise<void> {
    const pinned = this.filesInUse();
    const allStored = (members: readonly PoolMember[]) => members.every((m) => this.ctx.index.has(client, m.id));
    await this.ctx.pool.sweep(client, this.ctx.now(), pinned, allStored);
  }

  /**
   * An upload is over. Not stored: the members it staged join the client's pool (before its name is
   * freed, so the next upload of that name finds them). Stored: its staging file goes (the archive
   * contains every member). Its bucket lease is given back. Then, under the client lock, the client's pool is swept. Never throws.
   */
  private async ended(upload: UploadHandle, outcome: UploadOutcome): Promise<void> {
    const { client } = upload;
    const staging = outcome.staging;
    const keep = !outcome.committed && staging !== null && staging.members.length > 0;
    if (keep) this.ctx.pool.add(client, staging.path, staging.members, this.ctx.now());
    const key = `${client}/${upload.name}`;
    const active = this.active.get(key);
    if (active?.upload === upload) {
      this.active.delete(key);
      this.space.close(active.space, outcome.committed);
      await this.releaseLease(client, upload.name);
    }
    try {
      await this.ctx.withClientLock(client, async () => {
        if (staging && !keep) await unlink(staging.path).catch(() => undefined);
        await this.sweepStaging(client);
      });
    } catch (err) {
      this.ctx.log("error", "staging.sweep-failed", { client, error: (err as Error).message });
    }
  }
}
