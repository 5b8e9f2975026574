// Manifests: the ordered chunk ids and raw lengths of one archive, their canonical bytes and the archive id.
import { Buffer } from "node:buffer";
import { createHash, type Hash } from "node:crypto";
import { MANIFEST_ENTRY_BYTES } from "../protocol/constants.ts";
import { HashRelayError } from "../errors.ts";

export interface ManifestEntry {
  /** SHA-256 of the chunk's raw (uncompressed) bytes. */
  id: Uint8Array;
  rawLength: number;
}

/** ASCII "HRM1": first bytes of the canonical manifest. */
export const MANIFEST_MAGIC = new Uint8Array([0x48, 0x52, 0x4d, 0x31]);
const ID_BYTES = 32;
const MAX_U32 = 0xffffffff;

/**
 * Streams the archive id: SHA-256 of the canonical manifest
 *   "HRM1" | N x (32-byte id | u32 BE rawLength) | u32 BE N.
 * The count closes the manifest (rather than opening it) so the id can be computed in one
 * pass by whoever does not know N in advance: the builder as chunks appear, the server as
 * manifest pages arrive or while it scans a stored file. Holds only the hash state.
 */
export class ArchiveIdHasher {
  private readonly hash: Hash = createHash("sha256").update(MANIFEST_MAGIC);
  private count = 0;
  private done = false;

  /** Adds one entry; throws BAD_FRAME on a malformed entry. */
  add(entry: ManifestEntry): void {
    this.addEncoded(encodeManifestEntries([entry], 0, 1));
  }

  /** Adds entries already in their 36-byte encoding (a manifest page); throws BAD_FRAME on a ragged length. */
  addEncoded(bytes: Uint8Array): void {
    if (this.done) throw new HashRelayError("INTERNAL", "archive id already computed");
    if (bytes.length % MANIFEST_ENTRY_BYTES !== 0) {
      throw new HashRelayError("BAD_FRAME", `manifest entries: ${bytes.length} bytes is not a multiple of ${MANIFEST_ENTRY_BYTES}`);
    }
    const entries = bytes.length / MANIFEST_ENTRY_BYTES;
    if (this.count + entries > MAX_U32) throw new HashRelayError("BAD_FRAME", "manifest holds more than 2^32-1 entries");
    this.count += entries;
    this.hash.update(bytes);
  }

  /** Number of entries added so far. */
  get entries(): number {
    return this.count;
  }

  /** Lower-case hex archive id. May be called once. */
  digest(): string {
    if (this.done) throw new HashRelayError("INTERNAL", "archive id already computed");
    this.done = true;
    const tail = new Uint8Array(4);
    new DataView(tail.buffer).setUint32(0, this.count);
    return this.hash.update(tail).digest("hex");
  }
}

/** Archive id of a whole manifest held in memory; throws BAD_FRAME on a malformed entry. */
export function archiveIdOf(entries: readonly ManifestEntry[]): string {
  const hasher = new ArchiveIdHasher();
  hasher.addEncoded(encodeManifestEntries(entries, 0, entries.length));
  return hasher.digest();
}

/** Lower-case hex of a chunk id. */
export function chunkIdHex(id: Uint8Array): string {
  return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString("hex");
}

/**
 * entries[from, to) as 36-byte records (id | u32 BE rawLength): one manifest page.
 * Throws BAD_FRAME when an id is not 32 bytes or a rawLength is not a u32, INTERNAL on a bad range.
 */
export function encodeManifestEntries(entries: readonly ManifestEntry[], from: number, to: number): Uint8Array {
  if (!Number.isInteger(from) || !Number.isInteger(to) || from < 0 || to < from || to > entries.length) {
    throw new HashRelayError("INTERNAL", `manifest range [${from}, ${to}) outside 0..${entries.length}`);
  }
  const out = new Uint8Array((to - from) * MANIFEST_ENTRY_BYTES);
  const view = new DataView(out.buffer);
  for (let i = from; i < to; i++) {
    const entry = entries[i]!;
    if (entry.id.length !== ID_BYTES) {
      throw new HashRelayError("BAD_FRAME", `manifest entry ${i}: id is ${entry.id.length} bytes, expected ${ID_BYTES}`);
    }
    if (!Number.isInteger(entry.rawLength) || entry.rawLength < 0 || entry.rawLength > MAX_U32) {
      throw new HashRelayError("BAD_FRAME", `manifest entry ${i}: raw length ${entry.rawLength} is not a u32`);
    }
    const at = (i - from) * MANIFEST_ENTRY_BYTES;
    out.set(entry.id, at);
    view.setUint32(at + ID_BYTES, entry.rawLength);
  }
  return out;
}

/** Parses 36-byte records; ids are copies. Throws BAD_FRAME when the length is not a multiple of 36. */
export function decodeManifestEntries(bytes: Uint8Array): ManifestEntry[] {
  if (bytes.length % MANIFEST_ENTRY_BYTES !== 0) {
    throw new HashRelayError("BAD_FRAME", `manifest entries: ${bytes.length} bytes is not a multiple of ${MANIFEST_ENTRY_BYTES}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const entries: ManifestEntry[] = [];
  for (let at = 0; at < bytes.length; at += MANIFEST_ENTRY_BYTES) {
    entries.push({ id: bytes.slice(at, at + ID_BYTES), rawLength: view.getUint32(at + ID_BYTES) });
  }
  return entries;
}
