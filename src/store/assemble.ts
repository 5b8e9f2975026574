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
import { sha256 } from "./archive-file.ts";
import { MemberTable } from "./member-table.ts";
import { pathExists, type StoreLayout } from "./layout.ts";

/** Members lying end to end in one file are read, checked and written together, up to this many bytes. */
export const READ_RUN = 4 * 1024 * 1024;
/** Run buffers in flight: one being read, one being checked, one being written. */
const BUFFERS = 3;
/** Bytes written between two early datasyncs (in the background, one at a time; the final fsync stays). */
const EARLY_SYNC = 8 * 1024 * 1024;

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

/** Sources [first, end) lie end to end in `path` from `offset`, `length` bytes in all. */
interface Run {
  first: number;
  end: number;
  path: string;
  offset: number;
  length: number;
}

/** Cuts `sources` into runs of members that lie end to end in one file, each at most READ_RUN bytes (or one member). */
export function planRuns(sources: readonly MemberSource[]): Run[] {
  const runs: Run[] = [];
  let run: Run | null = null;
  for (const [at, s] of sources.entries()) {
    if (run && s.path === run.path && s.offset === run.offset + run.length && run.length + s.length <= READ_RUN) {
      run.end = at + 1;
      run.length += s.length;
      continue;
    }
    run = { first: at, end: at + 1, path: s.path, offset: s.offset, length: s.length };
    runs.push(run);
  }
  return runs;
}

/**
 * Writes the members in order to `tmp` and fsyncs it. Every member read is hashed and compared with
 * the SHA-256 recorded when it was verified against its chunk id before any of its bytes are written
 * (a full inflate is the scrub's job, Store.verifyArchive). Throws HASH_MISMATCH when a member's bytes
 * changed since, STORAGE on short reads, fs errors otherwise; on any failure `tmp` is removed. Returns
 * the new file's members and hash.
 *
 * Members lying end to end in one file (most of them: the previous archive's unchanged runs, this
 * upload's staging file) are read as one run into a reused buffer and written from it as they are; the
 * next run is read and the previous one written while a run is hashed.
 */
export async function assembleArchive(args: AssembleArgs): Promise<{ members: MemberTable; fileSha256: string; size: number }> {
  const { name, tmp, sources, format } = args;
  const out = await open(tmp, "wx", 0o640);
  const inputs = new Map<string, FileHandle>();
  const runs = planRuns(sources);
  const largest = runs.reduce((max, r) => Math.max(max, r.length), 0);
  const buffers: Uint8Array[] = [];
  // What each buffer is still busy with (its last write); a buffer is read into only once that settled.
  const busy: Promise<unknown>[] = [];
  const inFlight = new Set<Promise<unknown>>();
  const track = <T>(p: Promise<T>): Promise<T> => {
    inFlight.add(p);
    void p.then(
      () => inFlight.delete(p),
      () => inFlight.delete(p),
    );
    return p;
  };
  const read = async (k: number): Promise<Uint8Array> => {
    const run = runs[k]!;
    const slot = k % BUFFERS;
    await busy[slot];
    buffers[slot] ??= new Uint8Array(largest);
    let handle = inputs.get(run.path);
    if (!handle) {
      handle = await open(run.path, "r");
      inputs.set(run.path, handle);
    }
    return readInto(handle, buffers[slot]!.subarray(0, run.length), run.offset, sources[run.first]!.label);
  };
  try {
    const hash = createHash("sha256");
    const members = new MemberTable();
    let position = 0;
    let synced = 0;
    let syncing: Promise<unknown> | null = null;
    let next = runs.length > 0 ? track(read(0)) : null;
    for (const [k, run] of runs.entries()) {
      const bytes = await next!;
      next = k + 1 < runs.length ? track(read(k + 1)) : null;
      const runStart = position;
      const parts: Uint8Array[] = [];
      let reencoded = false;
      let within = 0;
      for (let at = run.first; at < run.end; at++) {
        const source = sources[at]!;
        let member = bytes.subarray(within, within + source.length);
        within += source.length;
        let digest = sha256(member);
        if (!Buffer.from(digest).equals(Buffer.from(source.sha256))) {
          throw new HashRelayError(
            "HASH_MISMATCH",
            `chunk ${source.index} of ${name}, reused from ${source.label} at byte ${source.offset}, does not match its id`,
            "those stored bytes changed since they were verified (they were left as they are); the new archive was not stored",
          );
        }
        if (isZstdMember(member, 0) !== (format === "tar.zst")) {
          const raw = inflateMember(member, source.rawLength);
          member = format === "tar.zst" ? encodeZstdMember(raw, zstdFrame) : encodeGzipMember(raw, deflateRaw);
          digest = sha256(member);
          reencoded = true;
        }
        parts.push(member);
        members.push(source.id, position, member.length, source.rawLength, digest);
        position += member.length;
      }
      // Re-encoded members (a format change, rare) no longer fit the run's buffer: that run is copied.
      const output = reencoded ? Buffer.concat(parts) : bytes;
      hash.update(output);
      const writing = track(writeAll(out, output, runStart));
      busy[k % BUFFERS] = writing;
      if (!syncing && position - synced >= EARLY_SYNC) {
        // The disk starts on what is written while the rest is assembled: the final fsync has less left to do.
        synced = position;
        const early = track(writing.then(() => out.datasync()));
        syncing = early;
        void early.then(
          () => (syncing = null),
          () => (syncing = null),
        );
      }
    }
    await Promise.all(inFlight);
    await out.sync();
    await out.close();
    return { members, fileSha256: hash.digest("hex"), size: position };
  } catch (err) {
    await Promise.allSettled(inFlight);
    await out.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  } finally {
    for (const handle of inputs.values()) await handle.close().catch(() => undefined);
  }
}

/** Reads exactly `into.length` bytes at `position` into `into` and returns it; throws STORAGE naming `what` on a short read. */
async function readInto(handle: FileHandle, into: Uint8Array, position: number, what: string): Promise<Uint8Array> {
  let done = 0;
  while (done < into.length) {
    const { bytesRead } = await handle.read(into, done, into.length - done, position + done);
    if (bytesRead === 0) throw new HashRelayError("STORAGE", `${what}: file ends before byte ${position + into.length}`);
    done += bytesRead;
  }
  return into;
}

async function writeAll(out: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) done += (await out.write(bytes, done, bytes.length - done, position + done)).bytesWritten;
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
