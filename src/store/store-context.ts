// The state the parts of the store share (made once by Store.open): folders, chunk index, staging pool, holds, clock, log, retention, audit, per-client lock.
import type { AuditEvent } from "./audit-chain.ts";
import type { BlockSharing } from "./block-sharing.ts";
import type { BucketArchives } from "./bucket-archives.ts";
import type { ChunkIndex } from "./chunk-index.ts";
import type { DamageBook } from "./damage-book.ts";
import type { HoldBook } from "./holds.ts";
import type { StoreLayout } from "./layout.ts";
import { DEFAULT_RETENTION, type Retention } from "./retention-rules.ts";
import type { StagingPool } from "./staging-pool.ts";
import type { StoreLog } from "./store-log.ts";

/**
 * Told each accept, supersede, hold, release, trash and purge once it is durable on disk (e.g. AuditLog.append of
 * audit-log.ts). Awaited; a rejection is logged (audit.write-failed) and never fails or undoes the operation.
 */
export type AuditSink = (event: AuditEvent) => Promise<void> | void;

export interface StoreParts {
  layout: StoreLayout;
  index: ChunkIndex;
  pool: StagingPool;
  holdBook: HoldBook;
  /** Archives found damaged: their damaged members are not reused, and their name's last good archive is kept. */
  damage: DamageBook;
  log: StoreLog;
  /** Whether the file system shares blocks: new archives clone the unchanged runs of old ones. */
  sharing: BlockSharing;
  /** Clock in ms since the epoch. */
  now: () => number;
  audit?: AuditSink;
  /** An S3 storage's bucket: each archive is published there before its receipt (bucket-publish.ts); the root is its cache. */
  bucket?: BucketArchives;
}

/** The shared state, and the two services every part may use: the per-client lock and the audit sink. */
export class StoreContext {
  readonly layout: StoreLayout;
  readonly index: ChunkIndex;
  readonly pool: StagingPool;
  readonly holdBook: HoldBook;
  readonly damage: DamageBook;
  readonly log: StoreLog;
  readonly sharing: BlockSharing;
  readonly now: () => number;
  readonly bucket: BucketArchives | null;
  /** Set by Store.setRetention, read by each commit and purge. */
  retention: Retention = DEFAULT_RETENTION;
  /** On an S3 storage, bytes of each client's objects in the bucket's trash, as its last sync listed them (quotas count them). */
  readonly bucketTrashBytes = new Map<string, number>();
  private readonly auditSink: AuditSink | undefined;
  private readonly locks = new Map<string, Promise<void>>();

  constructor(parts: StoreParts) {
    this.layout = parts.layout;
    this.index = parts.index;
    this.pool = parts.pool;
    this.holdBook = parts.holdBook;
    this.damage = parts.damage;
    this.log = parts.log;
    this.sharing = parts.sharing;
    this.now = parts.now;
    this.auditSink = parts.audit;
    this.bucket = parts.bucket ?? null;
  }

  /** Runs `task` once every earlier task of this client has ended (commits, retention, receipts, staging sweeps); returns or throws what it does. */
  async withClientLock<T>(client: string, task: () => Promise<T>): Promise<T> {
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

  /** Hands an event to the audit sink; a failure is logged, never thrown. */
  async audit(event: AuditEvent): Promise<void> {
    if (!this.auditSink) return;
    try {
      await this.auditSink(event);
    } catch (err) {
      this.log("error", "audit.write-failed", { ...event, error: (err as Error).message });
    }
  }
}
