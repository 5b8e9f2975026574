// Reading stored archives: member-by-member scans (to rebuild the index), scrubs, and verified reads of single members.
import { createHash } from "node:crypto";
import { open } from "node:fs/promises";
import { HashRelayError } from "../errors.ts";
import { inflateMember, readMemberLength } from "../archive/gzip-member.ts";
import { fillerLength, leadingFillers } from "../archive/filler.ts";
import { ArchiveIdHasher, chunkIdHex } from "../archive/manifest.ts";
import { FileDigestHasher, pieceOf, PiecesHasher } from "../archive/pieces-digest.ts";
import type { FileDigest } from "../protocol/file-digest.ts";
import { CHUNK_MAX, MAX_CHUNK_FRAME } from "../protocol/constants.ts";
import type { StoredPlace } from "./index-rows.ts";
import { MemberTable } from "./member-table.ts";

/** No gzip member of ours is longer than a chunk frame's payload. */
export const MAX_MEMBER_BYTES = MAX_CHUNK_FRAME;
/** Scans read the file in blocks this large. */
const SCAN_BLOCK = 4 * 1024 * 1024;

export interface ScannedArchive {
  /** Every member, with the SHA-256 of its bytes (none kept when the scan was told so). */
  members: MemberTable;
  /** Number of members. */
  count: number;
  archiveId: string;
  /** Both digests of the file (PROTOCOL.md §7.3): a scan cannot tell which one its receipt signed. */
  piecesSha256: string;
  fileSha256: string;
  size: number;
  mtimeMs: number;
}

/** SHA-256 of `bytes`. */
export function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(bytes).digest());
}

/**
 * XXH3-64 of a member's bytes, 8 bytes big-endian: recorded beside its SHA-256, it is what a copy
 * checks the member's bytes against (~3x cheaper here; it detects rot, PROTOCOL.md §10 step 6).
 */
export function memberXxh3(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, Bun.hash.xxHash3(bytes));
  return out;
}

/** Bytes read at a position, as FileHandle.read does: an open file, or an object read by ranged GETs (bucket-object-reader.ts). */
export interface ReadableAt {
  /** Reads up to `length` bytes at `position` into `buffer` from `offset`; 0 bytes read: the end. */
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
}

/** Reads exactly `length` bytes at `position`; throws STORAGE naming `what` on a short read. */
export async function readExactly(handle: ReadableAt, position: number, length: number, what: string): Promise<Uint8Array> {
  return readExactlyInto(handle, position, new Uint8Array(length), what);
}

/** Fills `out` with the bytes at `position` and returns it; throws STORAGE naming `what` on a short read. */
export async function readExactlyInto(handle: ReadableAt, position: number, out: Uint8Array, what: string): Promise<Uint8Array> {
  const length = out.length;
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(out, done, length - done, position + done);
    if (bytesRead === 0) throw new HashRelayError("STORAGE", `${what}: file ends before byte ${position + length}`);
    done += bytesRead;
  }
  return out;
}

/**
 * Walks an archive member by member (fillers checked and stepped over; each member's length from its
 * header, inflate, SHA-256 of the raw bytes, SHA-256 of the member) and returns what the index needs.
 * Memory stays bounded (one block; the member table spools to `spool` when given, and is not kept
 * at all for `false`). Throws STORAGE naming the file and offset when the file is not a sequence of
 * our members, each after fillers or not, ending with a member; fs errors pass through.
 */
export async function scanArchive(path: string, spool?: string | false): Promise<ScannedArchive> {
  const handle = await open(path, "r");
  try {
    const stats = await handle.stat();
    return { ...(await scanReadable(handle, path, stats.size, spool)), mtimeMs: stats.mtimeMs };
  } finally {
    await handle.close();
  }
}

/** scanArchive of the `size` bytes `handle` reads (`path` names them in errors), without a modification time. */
export async function scanReadable(
  handle: ReadableAt,
  path: string,
  size: number,
  spool?: string | false,
): Promise<Omit<ScannedArchive, "mtimeMs">> {
  const members = new MemberTable(spool || undefined);
  let count = 0;
  try {
    if (size === 0) throw new HashRelayError("STORAGE", `${path} is empty`);
    const archiveId = new ArchiveIdHasher();
    const fileHash = createHash("sha256");
    const pieces = new PiecesHasher();
    let fillers: Uint8Array[] = [];
    const window = new ScanWindow(handle, path, size);
    let position = 0;
    let afterFiller = false;
    while (position < size) {
      const wanted = Math.min(MAX_MEMBER_BYTES, size - position);
      const view = await window.at(position, wanted);
      let length: number;
      let raw: Uint8Array | null = null;
      try {
        length = fillerLength(view, 0);
        if (length === 0) {
          length = readMemberLength(view, 0);
          if (length <= 0 || length > wanted) throw new Error(`member length ${length} does not fit`);
          raw = inflateMember(view.subarray(0, length), CHUNK_MAX);
        }
      } catch (err) {
        throw damaged(path, position, (err as Error).message, err);
      }
      const bytes = view.subarray(0, length);
      fileHash.update(bytes);
      afterFiller = raw === null;
      if (raw) {
        const id = sha256(raw);
        archiveId.add({ id, rawLength: raw.length });
        const member = pieceOf(bytes);
        pieces.add(pieceOf(Buffer.concat(fillers)), member);
        fillers = [];
        if (spool !== false) members.push(id, position, length, raw.length, member.sha256, undefined, memberXxh3(bytes));
        count++;
      } else fillers.push(bytes.slice());
      position += length;
    }
    if (afterFiller) throw damaged(path, position, "fillers with no member after them");
    const digests = { piecesSha256: pieces.digest(), fileSha256: fileHash.digest("hex") };
    return { members, count, archiveId: archiveId.digest(), ...digests, size };
  } catch (err) {
    members.dispose();
    throw err;
  }
}

/** A file read through one block: the bytes at a position, read again from there when the block does not hold enough. */
class ScanWindow {
  private readonly block: Uint8Array;
  private start = 0;
  private length = 0;

  constructor(
    private readonly handle: ReadableAt,
    private readonly path: string,
    private readonly size: number,
  ) {
    this.block = new Uint8Array(Math.min(SCAN_BLOCK, size));
  }

  /** At least `wanted` bytes from `position` (more when the block holds them). Throws STORAGE when the file shrank. */
  async at(position: number, wanted: number): Promise<Uint8Array> {
    if (position + wanted > this.start + this.length) {
      this.start = position;
      this.length = 0;
      const toRead = Math.min(this.block.length, this.size - position);
      while (this.length < toRead) {
        const { bytesRead } = await this.handle.read(this.block, this.length, toRead - this.length, position + this.length);
        if (bytesRead === 0) break;
        this.length += bytesRead;
      }
      if (this.length < wanted) throw damaged(this.path, position, "file shrank while being read");
    }
    return this.block.subarray(position - this.start, this.length);
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
 * Reads every member of the archive at `path` where `members` (the index's records, in file order,
 * read as they are reached) say it is, inflates it (bounded by its raw length) and checks raw length
 * and SHA-256 against its chunk id; the bytes between two members must be fillers. Returns the
 * members that fail (a bad filler is reported with the member after it), how many were checked, the
 * file's real size, and its digest of the kind `kind` has (the receipt's: PROTOCOL.md §7.3) as read
 * (meaningless once a member failed). Throws fs errors when the file cannot be opened; short reads
 * are reported as damaged members.
 */
export async function scrubArchive(
  path: string,
  members: Iterable<ScrubbedMember>,
  kind: FileDigest,
  unhashed?: (row: StoredPlace, xxh3: Uint8Array) => void,
): Promise<{ damaged: DamagedMember[]; checked: number; size: number; digest: FileDigest }> {
  const handle = await open(path, "r");
  try {
    return await scrubReadable(handle, path, (await handle.stat()).size, members, kind, unhashed);
  } finally {
    await handle.close();
  }
}

/** A member as the scrub is given it: where it is, its raw length, and its index row's XXH3-64 when recorded. */
export interface ScrubbedMember {
  id: string;
  offset: number;
  length: number;
  rawLength: number;
  xxh3?: Uint8Array;
  row?: StoredPlace;
}

/**
 * scrubArchive of the `size` bytes `handle` reads (`path` names them in the reasons). `unhashed` is told the
 * XXH3-64 (memberXxh3) of each intact member whose row records none.
 */
export async function scrubReadable(
  handle: ReadableAt,
  path: string,
  size: number,
  members: Iterable<ScrubbedMember>,
  kind: FileDigest,
  unhashed?: (row: StoredPlace, xxh3: Uint8Array) => void,
): Promise<{ damaged: DamagedMember[]; checked: number; size: number; digest: FileDigest }> {
  const damaged: DamagedMember[] = [];
  const digest = new FileDigestHasher(kind);
  let index = 0;
  let end = 0;
  for (const m of members) {
    const problem = await memberProblem(handle, path, m, end, digest, unhashed);
    if (problem) damaged.push({ index, offset: m.offset, length: m.length, chunkId: m.id, reason: problem });
    end = m.offset + m.length;
    index++;
  }
  return { damaged, checked: index, size, digest: digest.result() };
}

/** Why member `m` (and the fillers from `from` up to it) is damaged, or null when it inflates to its chunk id. Adds what it read to `digest`. Never throws. */
async function memberProblem(
  handle: ReadableAt,
  path: string,
  m: ScrubbedMember,
  from: number,
  digest: FileDigestHasher,
  unhashed?: (row: StoredPlace, xxh3: Uint8Array) => void,
): Promise<string | null> {
  let bytes: Uint8Array;
  try {
    bytes = await readExactly(handle, from, m.offset + m.length - from, path);
  } catch (err) {
    return (err as Error).message;
  }
  if (m.offset >= from) digest.add(bytes, m.offset - from);
  let raw: Uint8Array;
  try {
    if (m.offset < from) return `starts at byte ${m.offset}, inside what comes before it`;
    if (leadingFillers(bytes) !== m.offset - from) return `the ${m.offset - from} bytes before it are not fillers`;
    raw = inflateMember(bytes.subarray(m.offset - from), m.rawLength);
  } catch (err) {
    return `does not inflate: ${(err as Error).message}`;
  }
  if (raw.length !== m.rawLength) return `inflates to ${raw.length} bytes, the index says ${m.rawLength}`;
  if (chunkIdHex(sha256(raw)) !== m.id) return "its bytes do not hash to its chunk id";
  // checked against its chunk id just now: the XXH3-64 of these bytes is what later copies may check them by
  if (!m.xxh3 && m.row && unhashed) unhashed(m.row, memberXxh3(bytes.subarray(m.offset - from)));
  return null;
}

/** The STORAGE error for `path` damaged at byte `offset`. */
function damaged(path: string, offset: number, reason: string, cause?: unknown): HashRelayError {
  return new HashRelayError("STORAGE", `${path} is damaged at byte ${offset}: ${reason}`, "the file was left as it is", { cause });
}
