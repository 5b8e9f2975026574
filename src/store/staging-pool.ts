// Chunks of unfinished uploads, kept in .hashrelay/staging/<client>/*.part: a per-client pool that later uploads reuse.
//
// A staging file is the plain concatenation of verified gzip members, in arrival order. When an upload
// ends without storing its archive (aborted, connection lost, commit refused) its file stays and its
// members join the pool of that client: the next upload of the client is not asked for them again and
// copies them at commit. At open, every staging file is read member by member and verified (inflate,
// SHA-256 of the raw bytes = the chunk id); the valid prefix stays, a torn or damaged tail is cut off.
// A file goes when it is stale (no write for staleMs), when the client's stored archives have all its
// chunks, when the client's pool outgrows capBytes (oldest first), or when an upload of any client
// needs the room (oldest first: space-guard.ts) — never while an upload relies on it. One client's
// pool is never consulted for another client.
import { lstat, open, rm, truncate, unlink } from "node:fs/promises";
import { HashRelayError } from "../errors.ts";
import { isSlug } from "../config/slug.ts";
import { GZIP_HEADER_BYTES, inflateMember, readMemberLength } from "../archive/gzip-member.ts";
import { chunkIdHex } from "../archive/manifest.ts";
import { CHUNK_MAX } from "../protocol/constants.ts";
import { MAX_MEMBER_BYTES, memberXxh3, readExactly, sha256 } from "./archive-file.ts";
import { assertUnderRoot, readdirOrEmpty, type StoreLayout } from "./layout.ts";
import type { StoreLog } from "./store-log.ts";

/** A staging file not written for this long is dropped (measured from its last write). */
export const STAGING_STALE_MS = 24 * 3600 * 1000;
/** Staged bytes kept per client; beyond this the oldest files go. */
export const STAGING_CAP_BYTES = 4 * 1024 * 1024 * 1024;
/** Names of staging files: 16 hex digits + ".part" (see Upload). */
export const STAGING_FILE = /^[0-9a-f]{16}\.part$/;

export interface PoolLimits {
  staleMs: number;
  capBytes: number;
}

/** One verified member in a staging file. */
export interface PoolMember {
  /** Chunk id (SHA-256 of the raw bytes), 32 bytes. */
  id: Uint8Array;
  offset: number;
  length: number;
  rawLength: number;
  /** SHA-256 of the member's bytes. */
  sha256: Uint8Array;
  /** XXH3-64 of the member's bytes (memberXxh3): what a copy checks them by. */
  xxh3: Uint8Array;
}

/** Where the pool has a chunk. */
export interface PoolHit {
  path: string;
  /** The staging file's name, for messages. */
  item: string;
  member: PoolMember;
}

interface PoolFile {
  client: string;
  path: string;
  item: string;
  bytes: number;
  lastWriteMs: number;
  members: PoolMember[];
}

export class StagingPool {
  private readonly files = new Map<string, PoolFile>();
  /** client → chunk id (hex) → a file containing it. */
  private readonly byClient = new Map<string, Map<string, PoolHit>>();

  constructor(
    private readonly layout: StoreLayout,
    private readonly log: StoreLog,
    private readonly limits: PoolLimits,
  ) {}

  /**
   * Reads .hashrelay/staging: drops stale files unread, verifies the others member by member (cutting
   * a damaged tail, dropping a file with no valid member) and adds them to their client's pool. Entries
   * this store did not make (not a client folder, not a staging file name) are removed. Throws fs errors.
   */
  async load(nowMs: number): Promise<void> {
    const root = this.layout.stagingRoot();
    for (const client of await readdirOrEmpty(root)) {
      const dir = this.layout.stagingDir(client);
      if (!isSlug(client) || !(await lstat(dir)).isDirectory()) {
        await this.removeLeftover(dir);
        continue;
      }
      for (const item of await readdirOrEmpty(dir)) {
        const path = this.layout.stagingPath(client, item);
        const stats = await lstat(path);
        if (!STAGING_FILE.test(item) || !stats.isFile()) {
          await this.removeLeftover(path);
          continue;
        }
        if (nowMs - stats.mtimeMs >= this.limits.staleMs) {
          await unlink(path);
          this.log("info", "staging.removed", { client, item, reason: "stale", bytes: stats.size });
          continue;
        }
        const scanned = await scanStagingFile(path);
        if (scanned.valid < stats.size) {
          if (scanned.valid === 0) await unlink(path);
          else await truncate(path, scanned.valid);
          this.log("warn", "staging.truncated", {
            client,
            item,
            kept: scanned.valid,
            dropped: stats.size - scanned.valid,
            reason: scanned.problem,
          });
        }
        if (scanned.members.length > 0) this.add(client, path, scanned.members, stats.mtimeMs);
      }
    }
  }

  /** Adds a staging file of `client` (its members verified, in file order) to the client's pool. */
  add(client: string, path: string, members: PoolMember[], lastWriteMs: number): void {
    if (members.length === 0 || this.files.has(path)) return;
    const item = path.slice(path.lastIndexOf("/") + 1);
    const last = members.at(-1)!;
    const file: PoolFile = { client, path, item, bytes: last.offset + last.length, lastWriteMs, members };
    this.files.set(path, file);
    this.index(file);
  }

  /** Where the client's pool has chunk `idHex`, or undefined. */
  find(client: string, idHex: string): PoolHit | undefined {
    return this.byClient.get(client)?.get(idHex);
  }

  /** The staging files (names) in the client's pool, oldest first. */
  items(client: string): string[] {
    return this.filesOf(client).map((f) => f.item);
  }

  /** The clients with at least one staging file in the pool. */
  clients(): string[] {
    return [...this.byClient.keys()];
  }

  /**
   * Deletes the client's staging files that are stale, or whose every chunk `allStored` says is now
   * stored, then the oldest while the pool is over its cap. Files in `pinned` (an upload relies on
   * them) stay. Each file leaves the pool before it is unlinked, so no upload can start relying on it
   * meanwhile. Never throws: a file that cannot be deleted is logged (it is out of the pool anyway).
   */
  async sweep(
    client: string,
    nowMs: number,
    pinned: ReadonlySet<string>,
    allStored: (members: readonly PoolMember[]) => boolean,
  ): Promise<void> {
    const doomed: { file: PoolFile; reason: string }[] = [];
    let total = 0;
    for (const file of this.filesOf(client)) {
      if (pinned.has(file.path)) {
        total += file.bytes;
      } else if (nowMs - file.lastWriteMs >= this.limits.staleMs) {
        doomed.push({ file, reason: "stale" });
      } else if (allStored(file.members)) {
        doomed.push({ file, reason: "stored" });
      } else {
        total += file.bytes;
      }
    }
    for (const file of this.filesOf(client)) {
      if (total <= this.limits.capBytes) break;
      if (pinned.has(file.path) || doomed.some((d) => d.file === file)) continue;
      doomed.push({ file, reason: "over the staging cap" });
      total -= file.bytes;
    }
    await this.drop(doomed);
  }

  /**
   * Frees at least `bytes` (when the pool has that much) by deleting staging files no upload relies on
   * (not in `pinned`), oldest write first, of `client` only when given, else whoever's: staging left by
   * uploads that ended unstored gives way when an upload needs the room. Returns the bytes deleted. Never throws.
   */
  async release(bytes: number, pinned: ReadonlySet<string>, client?: string): Promise<number> {
    const doomed: { file: PoolFile; reason: string }[] = [];
    let released = 0;
    const files = client === undefined ? [...this.files.values()] : this.filesOf(client);
    for (const file of this.oldestFirst(files)) {
      if (released >= bytes) break;
      if (pinned.has(file.path)) continue;
      doomed.push({ file, reason: "space needed" });
      released += file.bytes;
    }
    await this.drop(doomed);
    return released;
  }

  /** Bytes and files of each client's pool, and when its oldest file was last written. */
  usage(): Map<string, { bytes: number; files: number; oldestWriteMs: number }> {
    const out = new Map<string, { bytes: number; files: number; oldestWriteMs: number }>();
    for (const file of this.files.values()) {
      const seen = out.get(file.client) ?? { bytes: 0, files: 0, oldestWriteMs: file.lastWriteMs };
      out.set(file.client, {
        bytes: seen.bytes + file.bytes,
        files: seen.files + 1,
        oldestWriteMs: Math.min(seen.oldestWriteMs, file.lastWriteMs),
      });
    }
    return out;
  }

  /**
   * Takes the files out of the pool (so no upload can start relying on them), then deletes them and
   * logs why. Never throws: a file that cannot be deleted is logged (it is out of the pool anyway).
   */
  private async drop(doomed: readonly { file: PoolFile; reason: string }[]): Promise<void> {
    for (const { file } of doomed) this.files.delete(file.path);
    for (const client of new Set(doomed.map((d) => d.file.client))) this.reindex(client);
    for (const { file, reason } of doomed) {
      const { client, item } = file;
      try {
        await unlink(file.path);
        this.log("info", "staging.removed", { client, item, reason, bytes: file.bytes });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT")
          this.log("error", "staging.remove-failed", { client, item, error: (err as Error).message });
      }
    }
  }

  /** The client's staging files, oldest write first. */
  private filesOf(client: string): PoolFile[] {
    return this.oldestFirst([...this.files.values()].filter((f) => f.client === client));
  }

  /** `files` sorted by last write, oldest first (ties by name). */
  private oldestFirst(files: PoolFile[]): PoolFile[] {
    return files.sort((a, b) => a.lastWriteMs - b.lastWriteMs || (a.item < b.item ? -1 : 1));
  }

  /** Adds `file`'s members to the lookup by chunk id (an earlier file keeps a chunk it has). */
  private index(file: PoolFile): void {
    let map = this.byClient.get(file.client);
    if (!map) this.byClient.set(file.client, (map = new Map()));
    for (const member of file.members) {
      const hex = chunkIdHex(member.id);
      if (!map.has(hex)) map.set(hex, { path: file.path, item: file.item, member });
    }
  }

  /** Rebuilds the client's lookup from its files, oldest first. */
  private reindex(client: string): void {
    this.byClient.delete(client);
    for (const file of this.filesOf(client)) this.index(file);
  }

  /** Deletes `path` (under the root) and logs it. Throws fs errors. */
  private async removeLeftover(path: string): Promise<void> {
    assertUnderRoot(this.layout.root, path);
    await rm(path, { recursive: true, force: true });
    this.log("info", "store.leftover-removed", { path });
  }
}

/**
 * Walks a staging file member by member (length from each header, inflate bounded by CHUNK_MAX,
 * SHA-256 of the raw bytes = the chunk id). Returns the members of the valid prefix, its length, and
 * why the rest (if any) is not valid. One member in memory at a time. Throws fs errors.
 */
export async function scanStagingFile(path: string): Promise<{ members: PoolMember[]; valid: number; problem?: string }> {
  const handle = await open(path, "r");
  try {
    const size = (await handle.stat()).size;
    const members: PoolMember[] = [];
    let position = 0;
    while (position < size) {
      if (size - position < GZIP_HEADER_BYTES) return { members, valid: position, problem: `torn member at byte ${position}` };
      let member: Uint8Array;
      let raw: Uint8Array;
      try {
        const header = await readExactly(handle, position, GZIP_HEADER_BYTES, path);
        const length = readMemberLength(header, 0);
        if (length > MAX_MEMBER_BYTES) throw new HashRelayError("BAD_FRAME", `member length ${length} is too large`);
        if (position + length > size) return { members, valid: position, problem: `torn member at byte ${position}` };
        member = await readExactly(handle, position, length, path);
        raw = inflateMember(member, CHUNK_MAX);
      } catch (err) {
        return { members, valid: position, problem: `damaged member at byte ${position}: ${(err as Error).message}` };
      }
      members.push({
        id: sha256(raw),
        offset: position,
        length: member.length,
        rawLength: raw.length,
        sha256: sha256(member),
        xxh3: memberXxh3(member),
      });
      position += member.length;
    }
    return { members, valid: position };
  } finally {
    await handle.close();
  }
}
