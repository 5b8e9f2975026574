// Building a new archive file in .hashrelay/tmp from staged and reused members, then moving it into place.
import { createHash } from "node:crypto";
import { mkdir, open, stat, unlink, type FileHandle } from "node:fs/promises";
import type { Stats } from "node:fs";
import { HashRelayError } from "../errors.ts";
import { fsyncDir, renameDurable } from "../io/atomic-file.ts";
import { deflateRaw, zstdFrame } from "../io/compress.ts";
import { encodeGzipMember, inflateMember } from "../archive/gzip-member.ts";
import { encodeZstdMember, isZstdMember } from "../archive/zstd-member.ts";
import type { ArchiveFormat } from "../archive/naming.ts";
import { readExactly, sha256 } from "./archive-file.ts";
import { MemberTable } from "./member-table.ts";
import { pathExists, type StoreLayout } from "./layout.ts";

/** Writes go out in blocks of about this size. */
const WRITE_BLOCK = 1024 * 1024;
/** Members lying end to end in one file are read together, up to this many bytes. */
const READ_RUN = 4 * 1024 * 1024;

/** Where member `index` of the new archive comes from: a staging file or a stored archive of this client. */
export interface MemberSource {
  index: number;
  id: Uint8Array;
  rawLength: number;
  path: string;
  /** What `path` is, for messages ("web01/backup-….tar.gz", "staging file … of web01"). */
  label: string;
  offset: number;
  length: number;
  /** SHA-256 of the member's bytes, recorded when it was verified (on arrival, at a scan, at a commit). */
  sha256: Uint8Array;
}

export interface AssembleArgs {
  client: string;
  name: string;
  /** Path of the temp file to create (must not exist), under .hashrelay/tmp. */
  tmp: string;
  sources: readonly MemberSource[];
  /** The archive's member format: a held member of the other format is re-encoded (after a client.compression change). */
  format: ArchiveFormat;
}

/**
 * Writes the members in order to `tmp` and fsyncs it. Every member read is hashed and compared with
 * the SHA-256 recorded when it was verified against its chunk id (a full inflate is the scrub's job,
 * Store.verifyArchive). Throws HASH_MISMATCH when a member's bytes changed since, STORAGE on short
 * reads, fs errors otherwise; on any failure `tmp` is removed. Returns the new file's members and hash.
 */
export async function assembleArchive(args: AssembleArgs): Promise<{ members: MemberTable; fileSha256: string; size: number }> {
  const { client, name, tmp, sources, format } = args;
  const out = await open(tmp, "wx", 0o640);
  const inputs = new Map<string, FileHandle>();
  try {
    const hash = createHash("sha256");
    const members = new MemberTable();
    let position = 0;
    let written = 0;
    let pending: Uint8Array[] = [];
    let pendingBytes = 0;
    const flush = async () => {
      const block = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
      let done = 0;
      while (done < block.length) {
        done += (await out.write(block, done, block.length - done, written + done)).bytesWritten;
      }
      written += block.length;
      pending = [];
      pendingBytes = 0;
    };
    // Reused members mostly come in runs that lie end to end in one file: read each run (up to
    // READ_RUN bytes) at once rather than member by member.
    let run: { path: string; offset: number; bytes: Uint8Array } | null = null;
    const readMember = async (source: MemberSource, at: number): Promise<Uint8Array> => {
      if (run && run.path === source.path && source.offset >= run.offset && source.offset + source.length <= run.offset + run.bytes.length) {
        return run.bytes.subarray(source.offset - run.offset, source.offset - run.offset + source.length);
      }
      let handle = inputs.get(source.path);
      if (!handle) {
        handle = await open(source.path, "r");
        inputs.set(source.path, handle);
      }
      let end = source.offset + source.length;
      for (let next = at + 1; next < sources.length; next++) {
        const s = sources[next]!;
        if (s.path !== source.path || s.offset !== end || s.offset + s.length - source.offset > READ_RUN) break;
        end = s.offset + s.length;
      }
      run = { path: source.path, offset: source.offset, bytes: await readExactly(handle, source.offset, end - source.offset, source.label) };
      return run.bytes.subarray(0, source.length);
    };
    for (const [at, source] of sources.entries()) {
      let bytes = await readMember(source, at);
      let digest = sha256(bytes);
      if (!Buffer.from(digest).equals(Buffer.from(source.sha256))) {
        throw new HashRelayError(
          "HASH_MISMATCH",
          `chunk ${source.index} of ${name}, reused from ${source.label} at byte ${source.offset}, does not match its id`,
          "those stored bytes changed since they were verified (they were left as they are); the new archive was not stored",
        );
      }
      if (isZstdMember(bytes, 0) !== (format === "tar.zst")) {
        const raw = inflateMember(bytes, source.rawLength);
        bytes = format === "tar.zst" ? encodeZstdMember(raw, zstdFrame) : encodeGzipMember(raw, deflateRaw);
        digest = sha256(bytes);
      }
      hash.update(bytes);
      members.push(source.id, position, bytes.length, source.rawLength, digest);
      position += bytes.length;
      pending.push(bytes);
      pendingBytes += bytes.length;
      if (pendingBytes >= WRITE_BLOCK) await flush();
    }
    if (pendingBytes > 0) await flush();
    await out.sync();
    await out.close();
    return { members, fileSha256: hash.digest("hex"), size: position };
  } catch (err) {
    await out.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  } finally {
    for (const handle of inputs.values()) await handle.close().catch(() => undefined);
  }
}

/**
 * Moves the complete, fsynced `tmp` to `<root>/<client>/<file>` (creating the client folder) and
 * fsyncs the folders. Never replaces an existing file: throws STORAGE if one is there. On failure
 * `tmp` is removed. Returns the stored file's stats.
 */
export async function installArchive(layout: StoreLayout, client: string, file: string, tmp: string): Promise<Stats> {
  const final = layout.archivePath(client, file);
  try {
    const created = await mkdir(layout.clientDir(client), { recursive: true, mode: 0o750 });
    if (created) await fsyncDir(layout.root);
    if (await pathExists(final)) {
      throw new HashRelayError("STORAGE", `${client}/${file} already exists`, "a stored archive is never overwritten");
    }
    await renameDurable(tmp, final);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  return stat(final);
}
