// Building a new archive file in .hashrelay/tmp from staged and reused members, then moving it into place.
import { createHash } from "node:crypto";
import { mkdir, open, stat, unlink, type FileHandle } from "node:fs/promises";
import type { Stats } from "node:fs";
import { HashRelayError } from "../errors.ts";
import { chunkIdHex } from "../archive/manifest.ts";
import { fsyncDir, renameDurable } from "../io/atomic-file.ts";
import { memberMatches, readExactly } from "./archive-file.ts";
import type { MemberRecord } from "./catalog.ts";
import { pathExists, type StoreLayout } from "./layout.ts";

/** Writes go out in blocks of about this size. */
const WRITE_BLOCK = 1024 * 1024;

/** Where member `index` of the new archive comes from. */
export interface MemberSource {
  index: number;
  id: Uint8Array;
  rawLength: number;
  /** null: the upload's staging file (verified on arrival); else a stored archive of this client (verified again here). */
  file: string | null;
  offset: number;
  length: number;
}

export interface AssembleArgs {
  layout: StoreLayout;
  client: string;
  name: string;
  /** Path of the temp file to create (must not exist), under .hashrelay/tmp. */
  tmp: string;
  sources: readonly MemberSource[];
  staging: FileHandle | null;
}

/**
 * Writes the members in order to `tmp` and fsyncs it. Every member taken from a stored archive
 * is inflated and hashed again first. Throws HASH_MISMATCH when such a member no longer matches its
 * id, STORAGE on short reads, fs errors otherwise; on any failure `tmp` is removed.
 */
export async function assembleArchive(args: AssembleArgs): Promise<{ members: MemberRecord[]; fileSha256: string }> {
  const { layout, client, name, tmp, sources, staging } = args;
  const out = await open(tmp, "wx", 0o640);
  const archives = new Map<string, FileHandle>();
  const verified = new Set<string>();
  try {
    const hash = createHash("sha256");
    const members: MemberRecord[] = [];
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
    for (const source of sources) {
      let bytes: Uint8Array;
      if (source.file === null) {
        if (!staging) throw new HashRelayError("INTERNAL", `chunk ${source.index} of ${name} was staged but no staging file is open`);
        bytes = await readExactly(staging, source.offset, source.length, `staging file of ${name}`);
      } else {
        let handle = archives.get(source.file);
        if (!handle) {
          handle = await open(layout.archivePath(client, source.file), "r");
          archives.set(source.file, handle);
        }
        bytes = await readExactly(handle, source.offset, source.length, `${client}/${source.file}`);
        const key = `${source.file}:${source.offset}`;
        if (!verified.has(key)) {
          if (!memberMatches(bytes, source.id, source.rawLength)) {
            throw new HashRelayError(
              "HASH_MISMATCH",
              `chunk ${source.index} of ${name}, reused from ${client}/${source.file} at byte ${source.offset}, does not match its id`,
              "that stored archive is damaged (it was left as it is); the new archive was not stored",
            );
          }
          verified.add(key);
        }
      }
      hash.update(bytes);
      members.push([chunkIdHex(source.id), position, bytes.length, source.rawLength]);
      position += bytes.length;
      pending.push(bytes);
      pendingBytes += bytes.length;
      if (pendingBytes >= WRITE_BLOCK) await flush();
    }
    if (pendingBytes > 0) await flush();
    await out.sync();
    await out.close();
    return { members, fileSha256: hash.digest("hex") };
  } catch (err) {
    await out.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  } finally {
    for (const handle of archives.values()) await handle.close().catch(() => undefined);
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
