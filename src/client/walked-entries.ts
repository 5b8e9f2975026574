// One walked entry and what identifies its state: its fingerprint line, the walk's digest of those lines, its segment key.
import type { TarEntry } from "../archive/tar.ts";
import { SEGMENT_KEY_BYTES } from "../archive/stream-map.ts";

/** A tar entry plus where to read it and what the change detector needs. */
export interface WalkedEntry extends TarEntry {
  absPath: string;
  mtimeNs: bigint;
  ctimeNs: bigint;
  ino: bigint;
}

/**
 * The line the walk's digest hashes for an entry, as JSON: path, type, mode, uid, gid, uname, gname,
 * size, mtime and ctime in ns, inode, link target. The ctime catches writes that restore the mtime.
 */
export function fingerprintLine(e: WalkedEntry): string {
  return JSON.stringify([
    e.path,
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
  ]);
}

/**
 * The entry's segment key (archive/stream-map.ts): the first SEGMENT_KEY_BYTES of SHA-256 over its
 * fingerprint line. It changes whenever the entry's tar bytes may (content changes move the ctime).
 */
export function segmentKey(line: string): Uint8Array {
  Bun.SHA256.hash(line, digest);
  // copied by hand: a Buffer's subarray or a slice costs twice as much as the hash of a line
  const key = new Uint8Array(SEGMENT_KEY_BYTES);
  for (let i = 0; i < SEGMENT_KEY_BYTES; i++) key[i] = digest[i]!;
  return key;
}

/** segmentKey's SHA-256, written in place (the key is copied out of it). */
const digest = new Uint8Array(32);

/**
 * SHA-256 over the fingerprint lines of a walk's entries, in order, each followed by "\n": what a
 * source's fingerprint is made from (upload/source-offer.ts adds the layout, format, name and
 * excludes). Lines are hashed in batches of ~64 KiB: one update per line leaves a buffer per entry.
 */
export class EntryDigest {
  private readonly hash = new Bun.CryptoHasher("sha256");
  private batch = "";
  private done: string | null = null;

  add(line: string): void {
    this.batch += `${line}\n`;
    if (this.batch.length >= 65536) {
      this.hash.update(this.batch);
      this.batch = "";
    }
  }

  /** The hex digest; no line may be added after. */
  hex(): string {
    if (this.done === null) {
      this.hash.update(this.batch);
      this.batch = "";
      this.done = this.hash.digest("hex");
    }
    return this.done;
  }
}
