// Reading stored archives: member-by-member scans (to rebuild the index), scrubs, and verified reads of single members.
import { createHash } from "node:crypto";
import { open, type FileHandle } from "node:fs/promises";
import { HashRelayError } from "../errors.ts";
import { inflateMember, readMemberLength } from "../archive/gzip-member.ts";
import { archiveIdOf, chunkIdHex, type ManifestEntry } from "../archive/manifest.ts";
import { CHUNK_MAX, MAX_CHUNK_FRAME } from "../protocol/constants.ts";
import { MemberTable } from "./member-table.ts";

/** No gzip member of ours is longer than a chunk frame's payload. */
export const MAX_MEMBER_BYTES = MAX_CHUNK_FRAME;
/** Scans read the file in blocks this large. */
const SCAN_BLOCK = 4 * 1024 * 1024;

export interface ScannedArchive {
  /** Every member, with the SHA-256 of its bytes. */
  members: MemberTable;
  archiveId: string;
  fileSha256: string;
  size: number;
  mtimeMs: number;
}

/** SHA-256 of `bytes`. */
export function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(bytes).digest());
}

/**
 * True iff `member` is exactly one of our gzip members (its length field equals its size, CRC and
 * ISIZE agree) whose raw bytes are `rawLength` long (≤ CHUNK_MAX) and hash to `id`.
 * Never throws: a malformed member is simply false.
 */
export function memberMatches(member: Uint8Array, id: Uint8Array, rawLength: number): boolean {
  if (rawLength > CHUNK_MAX || member.length > MAX_MEMBER_BYTES) return false;
  try {
    const raw = inflateMember(member, rawLength);
    return raw.length === rawLength && Buffer.from(sha256(raw)).equals(Buffer.from(id));
  } catch {
    return false;
  }
}

/** Reads exactly `length` bytes at `position`; throws STORAGE naming `what` on a short read. */
export async function readExactly(handle: FileHandle, position: number, length: number, what: string): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(out, done, length - done, position + done);
    if (bytesRead === 0) throw new HashRelayError("STORAGE", `${what}: file ends before byte ${position + length}`);
    done += bytesRead;
  }
  return out;
}

/**
 * Walks an archive member by member (length from each member's header, inflate, SHA-256 of the raw
 * bytes, SHA-256 of the member) and returns what the index needs. Memory stays bounded (one block). Throws STORAGE naming
 * the file and offset when the file is not a sequence of our members; fs errors pass through.
 */
export async function scanArchive(path: string): Promise<ScannedArchive> {
  const handle = await open(path, "r");
  try {
    const stats = await handle.stat();
    const size = stats.size;
    if (size === 0) throw new HashRelayError("STORAGE", `${path} is empty`);
    const members = new MemberTable();
    const manifest: ManifestEntry[] = [];
    const fileHash = createHash("sha256");
    const block = new Uint8Array(Math.min(SCAN_BLOCK, size));
    let blockStart = 0;
    let blockLength = 0;
    let position = 0;
    while (position < size) {
      const wanted = Math.min(MAX_MEMBER_BYTES, size - position);
      if (position + wanted > blockStart + blockLength) {
        blockStart = position;
        blockLength = 0;
        const toRead = Math.min(block.length, size - position);
        while (blockLength < toRead) {
          const { bytesRead } = await handle.read(block, blockLength, toRead - blockLength, position + blockLength);
          if (bytesRead === 0) break;
          blockLength += bytesRead;
        }
        if (blockLength < wanted) throw damaged(path, position, "file shrank while being read");
      }
      const view = block.subarray(position - blockStart, blockLength);
      let length: number;
      let raw: Uint8Array;
      try {
        length = readMemberLength(view, 0);
        if (length <= 0 || length > wanted) throw new Error(`member length ${length} does not fit`);
        raw = inflateMember(view.subarray(0, length), CHUNK_MAX);
      } catch (err) {
        throw damaged(path, position, (err as Error).message, err);
      }
      const member = view.subarray(0, length);
      const id = sha256(raw);
      fileHash.update(member);
      manifest.push({ id, rawLength: raw.length });
      members.push(id, position, length, raw.length, sha256(member));
      position += length;
    }
    return { members, archiveId: archiveIdOf(manifest), fileSha256: fileHash.digest("hex"), size, mtimeMs: stats.mtimeMs };
  } finally {
    await handle.close();
  }
}

/** A member the scrub found wrong: its place in the file and why. */
export interface DamagedMember {
  /** Position in the archive's manifest (0-based). */
  index: number;
  offset: number;
  length: number;
  /** The chunk id (hex) the index says the member contains. */
  chunkId: string;
  reason: string;
}

/**
 * Reads every member of the archive at `path` where `members` (the index's records, in file order) say
 * it is, inflates it (bounded by its raw length) and checks raw length and SHA-256 against its chunk
 * id. Returns the members that fail, and the file's real size. Throws fs errors when the file cannot
 * be opened; short reads are reported as damaged members.
 */
export async function scrubArchive(
  path: string,
  members: readonly { id: string; offset: number; length: number; rawLength: number }[],
): Promise<{ damaged: DamagedMember[]; size: number }> {
  const handle = await open(path, "r");
  try {
    const size = (await handle.stat()).size;
    const damaged: DamagedMember[] = [];
    for (const [index, m] of members.entries()) {
      const report = (reason: string) => damaged.push({ index, offset: m.offset, length: m.length, chunkId: m.id, reason });
      let bytes: Uint8Array;
      try {
        bytes = await readExactly(handle, m.offset, m.length, path);
      } catch (err) {
        report((err as Error).message);
        continue;
      }
      let raw: Uint8Array;
      try {
        raw = inflateMember(bytes, m.rawLength);
      } catch (err) {
        report(`does not inflate: ${(err as Error).message}`);
        continue;
      }
      if (raw.length !== m.rawLength) report(`inflates to ${raw.length} bytes, the index says ${m.rawLength}`);
      else if (chunkIdHex(sha256(raw)) !== m.id) report("its bytes do not hash to its chunk id");
    }
    return { damaged, size };
  } finally {
    await handle.close();
  }
}

/** The STORAGE error for `path` damaged at byte `offset`. */
function damaged(path: string, offset: number, reason: string, cause?: unknown): HashRelayError {
  return new HashRelayError("STORAGE", `${path} is damaged at byte ${offset}: ${reason}`, "the file was left as it is", { cause });
}
