// Leases on (client, source name) in the bucket, so that two servers on one bucket never store the same source at once.
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { HashRelayError } from "../errors.ts";
import { writeFileAtomic } from "../io/atomic-file.ts";
import type { S3Client } from "../io/s3-client.ts";
import { S3Error } from "../io/s3-error.ts";
import { DERIVED_DIR } from "./layout.ts";

/** A lease not renewed for this long has ended: its server died (it renews every LEASE_RENEW_MS while it holds it). */
export const LEASE_TTL_MS = 10 * 60_000;
const LEASE_RENEW_MS = 60_000;

/** What a lease object holds. */
interface LeaseBody {
  owner: string;
  expiresAt: string;
}

interface Held {
  key: string;
  count: number;
}

/**
 * The leases this server holds. A lease is a generation: `<base>/<gen>` (12 digits), and the highest
 * generation is the one in force. Taking one creates the next generation with If-None-Match: * (one
 * of two servers racing for it wins; the other gets BUSY); an expired one is overtaken the same way,
 * by its successor generation. Why not one key with If-Match: RGW 16.2 answers 412 to every If-Match
 * on PutObject, even with the object's own ETag, so a stale lease could not be replaced safely.
 */
export class BucketLeases {
  /** This server's id (useServerIdOf: the one kept in its cache, else random): in its lease bodies, and naming its audit chain in the bucket. */
  serverId = randomBytes(8).toString("hex");
  /** This process, as lease bodies name it: host/server id/pid. */
  owner = ownerName(this.serverId);
  private readonly held = new Map<string, Held>();
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly s3: S3Client,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Takes the lease under `base` (a key prefix ending in "/"), or counts one more use of it when this
   * server holds it. Throws BUSY when another server's lease is in force or won the race, STORAGE
   * naming the lease when the store cannot be asked (down, hung, refusing).
   */
  async take(base: string): Promise<void> {
    const mine = this.held.get(base);
    if (mine) {
      mine.count++;
      return;
    }
    await this.claim(base).catch((err) => {
      if (!(err instanceof S3Error)) throw err;
      const hint = "the object store is down or does not answer: the client tries again at its next tick";
      throw new HashRelayError("STORAGE", `cannot take the lease on ${sourceOf(base)} in the object store: ${err.message}`, hint, {
        cause: err,
      });
    });
  }

  /** take() of a lease this server does not hold; throws S3Error as the store answers. */
  private async claim(base: string): Promise<void> {
    const keys = await this.generations(base);
    const top = keys.at(-1);
    if (top) {
      const lease = await this.read(top);
      if (lease && !this.ended(lease) && Date.parse(lease.expiresAt) > this.now()) throw busy(base, lease.owner);
    }
    const key = `${base}${String((top ? Number(top.slice(base.length)) : 0) + 1).padStart(12, "0")}`;
    if (!(await this.s3.createObject(key, this.body()))) throw busy(base, "another server");
    this.held.set(base, { key, count: 1 });
    this.timer ??= setInterval(() => void this.renewAll(), LEASE_RENEW_MS);
    this.timer.unref?.();
    for (const old of keys) await this.s3.deleteObject(old).catch(() => undefined); // earlier generations: over
  }

  /**
   * Names this server's leases after the server id kept in its cache at `cacheRoot` (made on first
   * start), so that once it is restarted after a crash it takes over the leases it held at once
   * instead of waiting for them to lapse. Call before the first take. Throws fs errors.
   */
  async useServerIdOf(cacheRoot: string): Promise<void> {
    this.serverId = await leaseServerId(join(cacheRoot, DERIVED_DIR, "lease-server-id"));
    this.owner = ownerName(this.serverId);
  }

  /**
   * Whether `lease` is free for this server although in force: its own whose delete failed (the
   * store was down; its use ended), or one of an earlier run of this server (same host and server
   * id, a process no longer alive; another server, or another process on this cache, still waits).
   */
  private ended(lease: LeaseBody): boolean {
    if (lease.owner === this.owner) return true;
    const [host, id, pid] = lease.owner.split("/");
    return `${host}/${id}/${process.pid}` === this.owner && !processAlive(Number(pid));
  }

  /** Throws BUSY when this server's lease under `base` is no longer the one in force (it lapsed and was overtaken). */
  async check(base: string): Promise<void> {
    const mine = this.held.get(base);
    if (!mine) return;
    const top = (await this.generations(base)).at(-1);
    if (top !== mine.key) throw busy(base, "another server (this server's lease lapsed)");
  }

  /** One use of the lease under `base` ended; the last one deletes it. Never throws (an undeleted lease lapses). */
  async release(base: string): Promise<void> {
    const mine = this.held.get(base);
    if (!mine || --mine.count > 0) return;
    this.held.delete(base);
    await this.s3.deleteObject(mine.key).catch(() => undefined);
    if (this.held.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  private async renewAll(): Promise<void> {
    for (const { key } of this.held.values()) await this.s3.putObject(key, this.body()).catch(() => undefined);
  }

  private body(): Uint8Array {
    const lease: LeaseBody = { owner: this.owner, expiresAt: new Date(this.now() + LEASE_TTL_MS).toISOString() };
    return new TextEncoder().encode(JSON.stringify(lease));
  }

  /** The generation keys under `base`, oldest first. */
  private async generations(base: string): Promise<string[]> {
    const keys: string[] = [];
    for await (const o of this.s3.listAllObjects(base)) if (/^\d{12}$/.test(o.key.slice(base.length))) keys.push(o.key);
    return keys.sort();
  }

  /** The lease at `key`, or null when it is gone or unreadable (a lease being written counts as none). */
  private async read(key: string): Promise<LeaseBody | null> {
    try {
      const lease = JSON.parse(new TextDecoder().decode(await this.s3.getBytes(key))) as Partial<LeaseBody>;
      return typeof lease.owner === "string" && typeof lease.expiresAt === "string" ? (lease as LeaseBody) : null;
    } catch (err) {
      if (err instanceof S3Error && err.s3Code !== "NoSuchKey") throw err;
      return null;
    }
  }
}

/** The owner name of this process with server id `serverId`. */
function ownerName(serverId: string): string {
  return `${hostname()}/${serverId}/${process.pid}`;
}

/** Whether a process `pid` runs on this host (one of another user counts: EPERM). */
function processAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * This server's id for its leases, kept in `file` (in its cache): read, or made on first start (16
 * random bytes in hex, written atomically with mode 0600), so it stays the same across restarts. A
 * cache made anew, or an unreadable id, gets a new one (the old leases then lapse). Throws fs errors.
 */
async function leaseServerId(file: string): Promise<string> {
  const kept = await readFile(file, "utf8").catch(() => "");
  if (/^[0-9a-f]{32}\n$/.test(kept)) return kept.trim();
  const fresh = randomBytes(16).toString("hex");
  await writeFileAtomic(file, `${fresh}\n`, 0o600);
  return fresh;
}

/** "client/name" of a lease base. */
function sourceOf(base: string): string {
  return base.split("/").slice(-3, -1).join("/");
}

function busy(base: string, owner: string): HashRelayError {
  return new HashRelayError(
    "BUSY",
    `${sourceOf(base)} is being stored through ${owner}`,
    "the client retries; two servers never store one source at once",
  );
}
