// What an upload needs from the store that owns it, and the parts of an upload its stages share.
import type { ArchiveFormat } from "../archive/naming.ts";
import type { ArrivalCheck } from "./arrival-check.ts";
import type { BlockSharing } from "./block-sharing.ts";
import type { ReusedMemberDamaged } from "./damage-found.ts";
import type { StoredPlace } from "./index-rows.ts";
import type { ArchiveRow, IndexEntry } from "./index-entry.ts";
import type { StoreLayout } from "./layout.ts";
import type { MemberTable } from "./member-table.ts";
import type { StagingOutcome, StagingWriter } from "./staging-writer.ts";
import type { StoreLog } from "./store-log.ts";
import type { UploadEntries } from "./upload-entries.ts";

/** A member this client already has, as a place to copy it from at commit. */
export interface ReusableMember {
  path: string;
  /** What `path` is, for messages. */
  label: string;
  offset: number;
  length: number;
  rawLength: number;
  /** SHA-256 of the member's bytes, recorded when it was verified. */
  sha256: Uint8Array;
  /** XXH3-64 of the member's bytes (memberXxh3), when the index recorded it: a copy checks that instead. */
  xxh3?: Uint8Array;
  /** Its place in the index (archive row, and seq among that archive's members); absent for a staging file. */
  stored?: StoredPlace;
}

/** How an upload ended, for the store to keep or drop its staging file. */
export interface UploadOutcome {
  committed: boolean;
  staging: StagingOutcome;
}

/** An upload as the store tracks it. */
export interface UploadHandle {
  readonly client: string;
  readonly name: string;
  /** Staging files of the client's pool the upload relies on, and its own: a sweep spares them. */
  filesInUse(): string[];
}

/** What an upload needs from the store that owns it (see upload-registry.ts). */
export interface UploadHost {
  readonly layout: StoreLayout;
  readonly log: StoreLog;
  /** Whether reused runs are cloned into new archives (the storage's file system shares blocks). */
  readonly sharing: BlockSharing;
  now(): number;
  /**
   * Where this client already has chunk `id` (hex `hex`): "stored" in one of its archives, the path
   * of the staging file of its pool that contains it, or null. Never throws.
   */
  findChunk(client: string, id: Uint8Array, hex: string): "stored" | string | null;
  /**
   * Where to copy each chunk of `ids` from: the member right after the previous one's place (`after`
   * for the first) when it is that chunk, else the newest stored archive containing it, else the
   * client's staging pool; undefined when neither.
   */
  reusableMembers(client: string, ids: readonly Uint8Array[], after?: StoredPlace): (ReusableMember | undefined)[];
  /** Records the stored member `err` names as damaged (damage-found.ts): no later upload reuses it. Never throws. */
  reusedDamaged(err: ReusedMemberDamaged): Promise<void>;
  /** True when a member of this client's stored archives that should hold chunk `id` is known damaged. */
  knownDamaged(client: string, id: Uint8Array): boolean;
  /** Runs `task` while no other commit, retention or staging sweep of this client runs. */
  withClientLock<T>(client: string, task: () => Promise<T>): Promise<T>;
  /** The entry of an archive already under its final name (scanning it if the index lacks it), or undefined. Under the lock. */
  existingEntry(client: string, file: string): Promise<IndexEntry | undefined>;
  /**
   * Runs `write`, which writes `bytes` more of the new archive, once the room is granted; the room stays
   * promised until `write` ends. Throws NO_SPACE (server.minFree would not stay free) or QUOTA (the
   * client's quota) without running it, or what `write` throws.
   */
  writeArchive<T>(bytes: number, what: string, write: () => Promise<T>): Promise<T>;
  /**
   * Records an archive just renamed into place (index, holds, retention) and returns its entry; `stored`
   * runs before retention (archive-accepted.ts). Under the lock; throws only when an S3 storage could not
   * publish it (the archive is then out of the store again).
   */
  accepted(row: ArchiveRow, members: MemberTable, stored?: (entry: IndexEntry) => Promise<void>): Promise<IndexEntry>;
  /** The check of the members clients send, as they arrive (one buffer for the store: use its views before any await). */
  readonly arrivals: ArrivalCheck;
  /** The member (of `format`) that raw chunk bytes compress to, made off the main thread; `raw` is handed over. */
  compress(raw: Uint8Array, format: ArchiveFormat): Promise<Uint8Array>;
  /** The upload is over (committed, failed or aborted): keep or drop its staging file, free its name. Never throws. */
  ended(upload: UploadHandle, outcome: UploadOutcome): Promise<void>;
}

/** The parts of one upload that its stages (need decision, staging, write-ahead, commit) share. */
export interface UploadParts {
  readonly host: UploadHost;
  readonly client: string;
  readonly name: string;
  readonly format: ArchiveFormat;
  readonly entries: UploadEntries;
  readonly staging: StagingWriter;
}
