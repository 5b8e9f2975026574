// The entries of one walk kept in columns (typed arrays and one array of paths), made into objects only when an archive is built.
import type { TarEntry } from "../archive/tar.ts";

/** A tar entry plus where to read it and what the change detector needs. */
export interface WalkedEntry extends TarEntry {
  absPath: string;
  mtimeNs: bigint;
  ctimeNs: bigint;
  ino: bigint;
}

type EntryType = WalkedEntry["type"];
const TYPES: readonly EntryType[] = ["file", "dir", "symlink"];

/**
 * What a walk keeps per entry. As objects, an entry held ~400 bytes (the object, three BigInts, the
 * absolute path and the path as a rope holding its name): 8 MiB for 20,000 files, kept through a
 * backup that then finds the tree unchanged and needs none of them. Here the numbers live in typed
 * arrays (the nanosecond times and the inode as raw 64-bit integers, exact), the absolute path is
 * rebuilt from the path, and uname/gname from uid/gid through the owner maps the walk used.
 */
/**
 * An entry's metadata as the fingerprint and the archive builder's segment keys read it: type, mode,
 * uid, gid, uname, gname, size, mtime and ctime in ns, inode, link target (not the path).
 */
export function metadataFields(e: WalkedEntry): (string | number | null)[] {
  return [
    e.type,
    e.mode,
    e.uid,
    e.gid,
    e.uname,
    e.gname,
    e.size,
    String(e.mtimeNs),
    String(e.ctimeNs),
    String(e.ino),
    e.linkTarget ?? null,
  ];
}

export class WalkedEntries {
  private count = 0;
  private paths: string[] = [];
  private types = new Uint8Array(0);
  private modes = new Uint16Array(0);
  private uids = new Uint32Array(0);
  private gids = new Uint32Array(0);
  private sizes = new Float64Array(0);
  private mtimes = new Float64Array(0);
  private mtimeNs = new BigInt64Array(0);
  private ctimeNs = new BigInt64Array(0);
  private inos = new BigUint64Array(0);
  private readonly links = new Map<number, string>();

  /**
   * `absPrefix`: what precedes an entry's path in its absolute path ("/srv/" for the source /srv/www,
   * whose entries are "www", "www/index.html", ...). `users`/`groups`: uid → user and gid → group names.
   */
  constructor(
    private readonly absPrefix: string,
    private readonly users: ReadonlyMap<number, string>,
    private readonly groups: ReadonlyMap<number, string>,
  ) {}

  get length(): number {
    return this.count;
  }

  /**
   * Appends an entry. `mode` is masked with 0o7777. What lstat gives fits: uid and gid are 32-bit,
   * mtimeNs and ctimeNs signed and ino unsigned 64-bit integers (a typed array would wrap anything
   * else). Throws RangeError on a uid or gid that is not a 32-bit id.
   */
  push(
    path: string,
    type: EntryType,
    mode: number,
    uid: number,
    gid: number,
    size: number,
    mtime: number,
    mtimeNs: bigint,
    ctimeNs: bigint,
    ino: bigint,
    linkTarget?: string,
  ): void {
    if (!(uid >= 0 && uid <= 0xffffffff && gid >= 0 && gid <= 0xffffffff) || !Number.isInteger(uid) || !Number.isInteger(gid)) {
      throw new RangeError(`uid ${uid} or gid ${gid} is not a 32-bit id`);
    }
    const i = this.count;
    if (i === this.types.length) this.grow();
    this.paths.push(path);
    this.types[i] = TYPES.indexOf(type);
    this.modes[i] = mode & 0o7777;
    this.uids[i] = uid;
    this.gids[i] = gid;
    this.sizes[i] = size;
    this.mtimes[i] = mtime;
    this.mtimeNs[i] = mtimeNs;
    this.ctimeNs[i] = ctimeNs;
    this.inos[i] = ino;
    if (linkTarget !== undefined) this.links.set(i, linkTarget);
    this.count++;
  }

  /** Entry `i` as an object (a new one each call). Throws RangeError when i is out of range. */
  at(i: number): WalkedEntry {
    if (!Number.isInteger(i) || i < 0 || i >= this.count) throw new RangeError(`entry ${i} of ${this.count}`);
    const uid = this.uids[i]!;
    const gid = this.gids[i]!;
    const path = this.paths[i]!;
    const entry: WalkedEntry = {
      path,
      type: TYPES[this.types[i]!]!,
      mode: this.modes[i]!,
      uid,
      gid,
      uname: this.users.get(uid) ?? "",
      gname: this.groups.get(gid) ?? "",
      size: this.sizes[i]!,
      mtime: this.mtimes[i]!,
      absPath: this.absPrefix + path,
      mtimeNs: this.mtimeNs[i]!,
      ctimeNs: this.ctimeNs[i]!,
      ino: this.inos[i]!,
    };
    const linkTarget = this.links.get(i);
    if (linkTarget !== undefined) entry.linkTarget = linkTarget;
    return entry;
  }

  /** Every entry as an object, in order. */
  toArray(): WalkedEntry[] {
    const out = new Array<WalkedEntry>(this.count);
    for (let i = 0; i < this.count; i++) out[i] = this.at(i);
    return out;
  }

  /** The sizes of the entries, in order (a view: valid until the next push). */
  entrySizes(): Float64Array {
    return this.sizes.subarray(0, this.count);
  }

  /**
   * The fields the fingerprint hashes for entry `i` (see fingerprintEntries), without making the
   * entry: path, type, mode, uid, gid, uname, gname, size, mtime and ctime in ns, inode, link target.
   */
  fingerprintFields(i: number): (string | number | null)[] {
    const uid = this.uids[i]!;
    const gid = this.gids[i]!;
    return [
      this.paths[i]!,
      TYPES[this.types[i]!]!,
      this.modes[i]!,
      uid,
      gid,
      this.users.get(uid) ?? "",
      this.groups.get(gid) ?? "",
      this.sizes[i]!,
      String(this.mtimeNs[i]!),
      String(this.ctimeNs[i]!),
      String(this.inos[i]!),
      this.links.get(i) ?? null,
    ];
  }

  private grow(): void {
    const size = Math.max(64, this.types.length * 2);
    const grown = <T extends { length: number; set(a: T): void }>(old: T, make: (n: number) => T): T => {
      const next = make(size);
      next.set(old);
      return next;
    };
    this.types = grown(this.types, (n) => new Uint8Array(n));
    this.modes = grown(this.modes, (n) => new Uint16Array(n));
    this.uids = grown(this.uids, (n) => new Uint32Array(n));
    this.gids = grown(this.gids, (n) => new Uint32Array(n));
    this.sizes = grown(this.sizes, (n) => new Float64Array(n));
    this.mtimes = grown(this.mtimes, (n) => new Float64Array(n));
    this.mtimeNs = grown(this.mtimeNs, (n) => new BigInt64Array(n));
    this.ctimeNs = grown(this.ctimeNs, (n) => new BigInt64Array(n));
    this.inos = grown(this.inos, (n) => new BigUint64Array(n));
  }
}
