// Archives found damaged (by a scrub or by a commit reusing their members), kept in .hashrelay/damaged.json until they leave the store.
//
// Uploads, offers, retention and status read it: a damaged member is not "held" (chunk-places.ts),
// an unchanged offer of a damaged latest archive is answered "send it again" (PROTOCOL.md §10 step 3),
// the last good archive of a name is never purged while only damaged ones follow it (damage-guard.ts).
// It is not derived from the archives (rebuilding the index cannot find what a scrub found), so it is
// written atomically and survives restarts; a record goes when its archive is purged or rescanned whole.
import { readFile } from "node:fs/promises";
import { writeFileAtomic } from "../io/atomic-file.ts";
import type { StoreLayout } from "./layout.ts";
import type { StoreLog } from "./store-log.ts";

/** One member found wrong: where it is in its archive, the chunk it should hold, and why. */
export interface DamagedPlace {
  /** Its place in the archive's manifest, when the scrub named it. */
  index?: number;
  offset: number;
  chunkId: string;
  reason: string;
}

/** One damaged archive of a client. */
export interface DamagedArchive {
  client: string;
  name: string;
  file: string;
  /** When it was first found damaged (ISO 8601 UTC). */
  foundAt: string;
  /** What found it: the scheduled scrub, `server verify`, or a commit that reused one of its members. */
  by: "scrub" | "verify" | "commit";
  /** The members found wrong (none when only the file's size is: then every member is suspect). */
  members: DamagedPlace[];
  /** Why, when no member can be named (the file's size changed). */
  problem?: string;
}

const FILE_NAME = "damaged.json";

/** The damaged archives, in memory and in `.hashrelay/damaged.json`. Writes are serialized; a failed write is logged and retried with the next. */
export class DamageBook {
  private readonly byArchive = new Map<string, DamagedArchive>();
  /** client → hex chunk ids of damaged members: a chunk not in it needs no look at places. */
  private readonly chunks = new Map<string, Set<string>>();
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly path: string,
    private readonly log: StoreLog,
  ) {}

  /** Reads the book of `layout` (none yet: empty; unreadable: logged, empty). Never throws. */
  static async load(layout: StoreLayout, log: StoreLog): Promise<DamageBook> {
    const book = new DamageBook(layout.under(".hashrelay", FILE_NAME), log);
    let text: string;
    try {
      text = await readFile(book.path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") log("error", "damage.read-failed", { error: (err as Error).message });
      return book;
    }
    try {
      const value = JSON.parse(text) as { archives?: unknown };
      for (const a of Array.isArray(value.archives) ? value.archives : []) if (isDamagedArchive(a)) book.put(a);
    } catch (err) {
      log("error", "damage.read-failed", { error: (err as Error).message });
    }
    return book;
  }

  /** Every damaged archive, by client and file. */
  all(): DamagedArchive[] {
    return [...this.byArchive.values()].sort((a, b) => a.client.localeCompare(b.client) || a.file.localeCompare(b.file));
  }

  /** The record of (client, file), or undefined when it is not known damaged. */
  get(client: string, file: string): DamagedArchive | undefined {
    return this.byArchive.get(key(client, file));
  }

  /** True when some damaged member of `client`'s archives should hold chunk `hex`. */
  hasChunk(client: string, hex: string): boolean {
    return this.chunks.get(client)?.has(hex) ?? false;
  }

  /** True when the member of (client, file) at `offset` is damaged, or the whole file is (its size changed). */
  isDamagedAt(client: string, file: string, offset: number): boolean {
    const found = this.get(client, file);
    return found !== undefined && (found.problem !== undefined || found.members.some((m) => m.offset === offset));
  }

  /**
   * Records damage found in (client, name, file), adding members to a record already there (the first
   * finding's time and finder stay). Returns true when anything was new. Durable once the promise
   * resolves; a failed write is logged (damage.write-failed), never thrown: memory still has it.
   */
  async record(found: Omit<DamagedArchive, "foundAt">, nowMs: number): Promise<boolean> {
    const previous = this.get(found.client, found.file);
    const known = new Set(previous?.members.map((m) => m.offset));
    const added = found.members.filter((m) => !known.has(m.offset));
    const problem = previous?.problem ?? found.problem;
    if (previous && added.length === 0 && problem === previous.problem) return false;
    this.put({
      ...(previous ?? { client: found.client, name: found.name, file: found.file, by: found.by, foundAt: new Date(nowMs).toISOString() }),
      members: [...(previous?.members ?? []), ...added],
      ...(problem ? { problem } : {}),
    });
    await this.save();
    return true;
  }

  /** Forgets (client, file) (it was purged, or found whole again). Never throws. */
  async forget(client: string, file: string): Promise<void> {
    if (!this.byArchive.delete(key(client, file))) return;
    this.reindex(client);
    await this.save();
  }

  private put(a: DamagedArchive): void {
    this.byArchive.set(key(a.client, a.file), a);
    this.reindex(a.client);
  }

  private reindex(client: string): void {
    const ids = new Set<string>();
    for (const a of this.byArchive.values()) if (a.client === client) for (const m of a.members) ids.add(m.chunkId);
    this.chunks.set(client, ids);
  }

  /** Writes the whole book after the writes before it. Never throws. */
  private save(): Promise<void> {
    const text = `${JSON.stringify({ archives: this.all() }, null, 1)}\n`;
    this.writing = this.writing.then(() =>
      writeFileAtomic(this.path, text, 0o640).catch((err: Error) => this.log("error", "damage.write-failed", { error: err.message })),
    );
    return this.writing;
  }
}

function key(client: string, file: string): string {
  return `${client}/${file}`;
}

function isDamagedArchive(a: unknown): a is DamagedArchive {
  if (typeof a !== "object" || a === null) return false;
  const r = a as Record<string, unknown>;
  return (
    typeof r.client === "string" &&
    typeof r.name === "string" &&
    typeof r.file === "string" &&
    typeof r.foundAt === "string" &&
    (r.by === "scrub" || r.by === "verify" || r.by === "commit") &&
    Array.isArray(r.members) &&
    r.members.every(
      (m) =>
        typeof m === "object" &&
        m !== null &&
        typeof (m as DamagedPlace).offset === "number" &&
        typeof (m as DamagedPlace).chunkId === "string" &&
        typeof (m as DamagedPlace).reason === "string",
    )
  );
}
