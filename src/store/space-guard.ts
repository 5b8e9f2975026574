// The storage disk shared fairly: server.minFree stays free, each client keeps within its quota, abandoned staging gives way.
//
// Every byte an upload adds is asked for first (upload-space.ts): its staging writes, a grant at a
// time, and each batch of its new archive. A request is refused QUOTA when the client's archives,
// trash and staging (its uploads in progress included) would pass its quota, and NO_SPACE when the
// disk would keep less than minFree free even after staging that unfinished uploads left behind is
// deleted, oldest first, whoever's it is (for a quota: the client's own). Requests are answered one at
// a time, so two uploads never both take the last room.
import { lstat } from "node:fs/promises";
import { HashRelayError } from "../errors.ts";
import { formatSize } from "../config/units.ts";
import type { FreeSpaceProbe } from "./free-space.ts";
import { readdirOrEmpty } from "./layout.ts";
import type { StoreContext } from "./store-context.ts";
import { isTrashItemName } from "./trash.ts";
import { UploadSpace } from "./upload-space.ts";

export interface SpaceRules {
  /** Free bytes the storage disk keeps (server.minFree): nothing is staged or assembled that would leave less. */
  minFreeBytes: number;
  /** Per client, the most bytes its archives, trash and staging may take (server.clients[].quota); a client absent has none. */
  quotas: ReadonlyMap<string, number>;
}

/** server.minFree when the config gives none: room for the index, the logs and the audit log once uploads stop. */
export const DEFAULT_MIN_FREE = 64 * 1024 * 1024;
export const DEFAULT_SPACE_RULES: SpaceRules = { minFreeBytes: DEFAULT_MIN_FREE, quotas: new Map() };
/** Room an upload must find on the disk and in its quota before it is accepted. */
const ADMIT_BYTES = 1024 * 1024;

/** What a client takes on the storage disk, in bytes. */
export interface ClientUsage {
  archives: number;
  trash: number;
  /** Its staging pool and its uploads in progress (their staging, or their new archive once larger). */
  staging: number;
  total: number;
}

/** What the guard has seen, for /metrics. */
export interface SpaceReport {
  minFreeBytes: number;
  quotas: ReadonlyMap<string, number>;
  /** Per client: bytes and files of its staging pool, bytes of its uploads in progress. */
  staging: Map<string, { poolBytes: number; poolFiles: number; uploadBytes: number; uploads: number }>;
  /** Abandoned staging deleted to make room, since the store opened. */
  releasedBytes: number;
  /** Uploads refused NO_SPACE or QUOTA, per client and code. */
  refusals: { client: string; code: "NO_SPACE" | "QUOTA"; count: number }[];
}

export class SpaceGuard {
  rules: SpaceRules = DEFAULT_SPACE_RULES;
  private readonly spaces = new Set<UploadSpace>();
  private queue: Promise<unknown> = Promise.resolve();
  private releasedBytes = 0;
  private readonly refusals = new Map<string, { client: string; code: "NO_SPACE" | "QUOTA"; count: number }>();

  constructor(
    private readonly ctx: StoreContext,
    private readonly probe: FreeSpaceProbe,
    /** Staging files uploads in progress rely on: never released. */
    private readonly pinned: () => ReadonlySet<string>,
  ) {}

  /**
   * Before an upload of `name` for `client` is accepted: throws QUOTA when the client has less than
   * ADMIT_BYTES left of its quota, NO_SPACE when the disk has less than that above minFree once
   * abandoned staging is released. Throws fs errors when the disk cannot be asked.
   */
  async admit(client: string, name: string): Promise<void> {
    try {
      await this.ask(client, ADMIT_BYTES, ADMIT_BYTES, `a new archive of ${name}`);
    } catch (err) {
      if (err instanceof HashRelayError) this.refused(client, name, err);
      throw err;
    }
  }

  /** The room of a new upload, counted in its client's usage until closed. */
  open(client: string, name: string): UploadSpace {
    const space = new UploadSpace(client, name, (quotaBytes, diskBytes, what) => this.ask(client, quotaBytes, diskBytes, what));
    this.spaces.add(space);
    return space;
  }

  /**
   * The upload is over: its bytes are counted where they went (archives, pool), no more as in
   * progress. Unstored after a refusal, that refusal is logged and counted.
   */
  close(space: UploadSpace, stored: boolean): void {
    this.spaces.delete(space);
    if (!stored && space.refusal) this.refused(space.client, space.name, space.refusal);
  }

  /**
   * What `client` takes now: its archives (index), its trash (folder sizes; on an S3 storage also its
   * objects in the bucket's trash as its last sync counted them: the cache keeps no trash), its staging. Throws fs errors.
   */
  async usage(client: string): Promise<ClientUsage> {
    const archives = this.ctx.index.archives(client).reduce((sum, row) => sum + row.size, 0);
    let trash = this.ctx.bucketTrashBytes.get(client) ?? 0;
    for (const item of await readdirOrEmpty(this.ctx.layout.trashDir(client))) {
      if (!isTrashItemName(item)) continue;
      const stats = await lstat(this.ctx.layout.trashPath(client, item)).catch(() => null);
      if (stats?.isFile()) trash += stats.size;
    }
    let staging = this.ctx.pool.usage().get(client)?.bytes ?? 0;
    for (const space of this.spaces) if (space.client === client) staging += space.footprint;
    return { archives, trash, staging, total: archives + trash + staging };
  }

  /** The counters and the staging of each client now. */
  report(): SpaceReport {
    const staging: SpaceReport["staging"] = new Map();
    for (const [client, pool] of this.ctx.pool.usage())
      staging.set(client, { poolBytes: pool.bytes, poolFiles: pool.files, uploadBytes: 0, uploads: 0 });
    for (const space of this.spaces) {
      const seen = staging.get(space.client) ?? { poolBytes: 0, poolFiles: 0, uploadBytes: 0, uploads: 0 };
      staging.set(space.client, { ...seen, uploadBytes: seen.uploadBytes + space.footprint, uploads: seen.uploads + 1 });
    }
    const { minFreeBytes, quotas } = this.rules;
    return { minFreeBytes, quotas, staging, releasedBytes: this.releasedBytes, refusals: [...this.refusals.values()] };
  }

  /**
   * Resolves with the room `client` has for `what` (at least both needs: `quotaBytes` more in its
   * quota, `diskBytes` more on the disk; a need of 0 or less is not checked), asking one request at
   * a time. Throws QUOTA or NO_SPACE, fs errors.
   */
  private ask(client: string, quotaBytes: number, diskBytes: number, what: string): Promise<number> {
    const answer = this.queue.then(async () => {
      const quota = quotaBytes > 0 ? await this.quotaRoom(client, quotaBytes, what) : Infinity;
      const disk = diskBytes > 0 ? await this.diskRoom(diskBytes, what) : Infinity;
      return Math.min(quota, disk);
    });
    this.queue = answer.catch(() => undefined);
    return answer;
  }

  /**
   * Bytes left in `client`'s quota (Infinity without one); when fewer than `bytes`, the client's own
   * abandoned staging is released (oldest first) for the difference. Throws QUOTA when still short.
   */
  private async quotaRoom(client: string, bytes: number, what: string): Promise<number> {
    const quota = this.rules.quotas.get(client);
    if (quota === undefined) return Infinity;
    let used = await this.usage(client);
    if (quota - used.total < bytes) {
      const released = await this.ctx.pool.release(bytes - (quota - used.total), this.pinned(), client);
      this.releasedBytes += released;
      if (released > 0) used = await this.usage(client);
    }
    const room = quota - used.total;
    if (room >= bytes) return room;
    throw new HashRelayError(
      "QUOTA",
      `${client} uses ${formatSize(used.total)} of its ${formatSize(quota)} quota (archives ${formatSize(used.archives)}, trash ${formatSize(used.trash)}, staging ${formatSize(used.staging)}): ${what} needs ${formatSize(bytes)} more`,
      `raise server.clients[].quota of ${client}, shorten retention.trashFor, or back up less`,
    );
  }

  /**
   * Bytes the disk has above minFree, beyond what other uploads were granted and have not written;
   * when fewer than `bytes`, abandoned staging is released (oldest first) for the difference. Throws
   * NO_SPACE when it still falls short.
   */
  private async diskRoom(bytes: number, what: string): Promise<number> {
    const { minFreeBytes } = this.rules;
    let promised = 0;
    for (const space of this.spaces) promised += space.unwritten;
    const roomNow = async () => (await this.probe(this.ctx.layout.root)) - minFreeBytes - promised;
    let room = await roomNow();
    if (room < bytes) {
      const released = await this.ctx.pool.release(bytes - room, this.pinned());
      this.releasedBytes += released;
      if (released > 0) room = await roomNow();
    }
    if (room >= bytes) return room;
    const free = room + minFreeBytes + promised;
    throw new HashRelayError(
      "NO_SPACE",
      `the server's storage has ${formatSize(Math.max(0, free))} free and keeps ${formatSize(minFreeBytes)} free (server.minFree): ${what} needs ${formatSize(bytes)} more`,
      "free space on the server's storage, or lower retention.keep or server.minFree",
    );
  }

  /** Logs a refusal (NO_SPACE, QUOTA; anything else is not one) and counts it. */
  private refused(client: string, name: string, err: HashRelayError): void {
    if (err.code !== "NO_SPACE" && err.code !== "QUOTA") return;
    const code = err.code;
    const key = `${client}/${code}`;
    const seen = this.refusals.get(key) ?? { client, code, count: 0 };
    this.refusals.set(key, { ...seen, count: seen.count + 1 });
    this.ctx.log("warn", "space.refused", { client, name, code, reason: err.message });
  }
}
