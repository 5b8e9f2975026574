// Reading stored archives back: one chunk for a delta rebuild, or a whole archive (stored or trashed) for a restore.
import { digestOf } from "../protocol/file-digest.ts";
import { randomBytes } from "node:crypto";
import { open } from "node:fs/promises";
import { HashRelayError } from "../errors.ts";
import { SHA256_HEX } from "../protocol/constants.ts";
import type { SignedDoc } from "../protocol/signed-document.ts";
import { chunkIdHex } from "../archive/manifest.ts";
import { readExactly, readExactlyInto, scanArchive } from "./archive-file.ts";
import type { OpenFiles } from "./open-files.ts";
import { readSignedRecord, type ReceiptFacts } from "./signed-record.ts";
import { asStorageError } from "./storage-error.ts";
import type { ArchiveRow } from "./index-entry.ts";
import type { StoreContext } from "./store-context.ts";
import { fetchBucketTrashed } from "./bucket-trashed.ts";
import { listTrashedAnywhere } from "./trashed-archives.ts";

/** One member of an archive being read back: where it lies, and the fillers right before it. */
export interface SentMember {
  id: string;
  offset: number;
  length: number;
  rawLength: number;
  /** Bytes of fillers right before it: a restore receives them with it, so that the members it gets make up the file. */
  lead: number;
}

/** A stored or trashed archive opened for reading (Store.archiveToSend): its members as recorded, and its bytes. */
export interface ArchiveSource {
  trashed: boolean;
  size: number;
  /** What its receipt attests, as the index (stored) or the trash sidecar (trashed) records it. */
  facts: ReceiptFacts;
  /** The receipt kept for it (index or signed record), by whichever identity signed it; absent when none was kept. */
  receipt?: SignedDoc;
  /** The manifest the client signed, from its signed record; absent for archives stored before records were kept. */
  manifest?: SignedDoc;
  /** Number of members. */
  count: number;
  /** The members in file order, read a page at a time as the iteration reaches them. */
  members: () => Iterable<SentMember>;
  /** Member `index`, or undefined when there is no such member. */
  member: (index: number) => SentMember | undefined;
  /** Reads exactly `length` bytes at `offset`; throws STORAGE when the file is shorter. */
  read: (offset: number, length: number) => Promise<Uint8Array>;
  /** Fills `into` with the bytes at `offset` (a buffer the caller reuses); throws STORAGE when the file is shorter. */
  readInto: (offset: number, into: Uint8Array) => Promise<void>;
  close: () => Promise<void>;
}

/**
 * The raw bytes of a chunk one of the client's (checked) stored archives contains, or null when none
 * does: a view valid until the next read through `files`. Reads and inflates one member, keeping its
 * archive open in `files`. Throws BAD_FRAME on a bad id, STORAGE when the archive cannot be read or the
 * member is damaged.
 */
export function readChunk(ctx: StoreContext, client: string, idHex: string, files: OpenFiles): Uint8Array | null {
  if (typeof idHex !== "string" || !SHA256_HEX.test(idHex))
    throw new HashRelayError("BAD_FRAME", `chunk id ${JSON.stringify(idHex)} is not 64 lower-case hex digits`);
  const location = ctx.index.locate(client, new Uint8Array(Buffer.from(idHex, "hex")));
  if (!location) return null;
  const what = `${client}/${location.file}`;
  try {
    return files.readRaw(ctx.layout.archivePath(client, location.file), location.offset, location.length, location.rawLength, what);
  } catch (err) {
    throw err instanceof HashRelayError ? err : new HashRelayError("STORAGE", `cannot read ${what}: ${(err as Error).message}`);
  }
}

/**
 * Archive `file` of (checked) `client` opened for sending back: the stored file, else the newest
 * trashed item that was that file, with its receipt facts and signed record. Members come from the
 * index for a stored archive, from a scan for a trashed one (its table spooled under .hashrelay/tmp
 * until close); the reader checks nothing, the restoring client does. Throws STORAGE when no such
 * archive is there or it cannot be read.
 */
export async function archiveToSend(ctx: StoreContext, client: string, file: string): Promise<ArchiveSource> {
  const row = ctx.index.archive(client, file);
  const located = row ? storedArchive(ctx, row) : await trashedArchive(ctx, client, file);
  try {
    const record = await readSignedRecord(located.recordPath);
    const receipt = row ? row.receipt : record?.receipt;
    const handle = await open(located.path, "r").catch((err) => {
      throw asStorageError(err, `cannot open ${client}/${file}`);
    });
    const size = (await handle.stat()).size;
    return {
      trashed: !row,
      size,
      facts: located.facts,
      ...(receipt ? { receipt } : {}),
      ...(record?.manifest ? { manifest: record.manifest } : {}),
      count: located.count,
      members: located.members,
      member: located.member,
      read: (offset, length) => readExactly(handle, offset, length, `${client}/${file}`),
      readInto: async (offset, into) => void (await readExactlyInto(handle, offset, into, `${client}/${file}`)),
      close: async () => {
        await located.release();
        await handle.close();
      },
    };
  } catch (err) {
    await located.release();
    throw err;
  }
}

type Located = Pick<ArchiveSource, "facts" | "count" | "members" | "member"> & {
  path: string;
  recordPath: string;
  /** Frees what reading it held: the scanned member table, a copy fetched from the bucket. */
  release: () => void | Promise<void>;
};

/** A stored archive's path, facts and members as the index records them, read from it a page (or a member) at a time. */
function storedArchive(ctx: StoreContext, row: ArchiveRow): Located {
  const { client, name, file, archiveId, size, storedAt } = row;
  return {
    path: ctx.layout.archivePath(client, file),
    recordPath: ctx.layout.signedPath(client, file),
    facts: { client, name, file, archiveId, ...digestOf(row), size, storedAt },
    count: ctx.index.memberCount(client, file),
    members: () => withLeads(ctx.index.iterateMembers(client, file)),
    member: (index) => {
      const [before, m] = ctx.index.membersAround(client, file, index);
      return (
        m && {
          id: m.id,
          offset: m.offset,
          length: m.length,
          rawLength: m.rawLength,
          lead: m.offset - (before ? before.offset + before.length : 0),
        }
      );
    },
    release: () => undefined,
  };
}

/**
 * The newest trashed item that was `file` (the cache's or, on an S3 storage, the bucket's, fetched to a
 * temp file that release() removes), its facts, and its members found by scanning it. Throws STORAGE
 * when there is none or it cannot be read.
 */
async function trashedArchive(ctx: StoreContext, client: string, file: string): Promise<Located> {
  const item = (await listTrashedAnywhere(ctx, client)).filter((t) => t.file === file).at(-1);
  if (!item) throw new HashRelayError("STORAGE", `no archive ${file} is stored or in the trash for ${client}`);
  // one in the bucket's trash is read from a fetched copy, scanned as any trashed archive
  const fetched =
    item.inBucket && ctx.bucket
      ? await fetchBucketTrashed(ctx, ctx.bucket, item).catch((err) => {
          throw asStorageError(err, `cannot fetch ${client}/${file} from the bucket's trash`);
        })
      : null;
  const path = fetched?.path ?? ctx.layout.trashPath(client, item.item);
  const { name, archiveId, size, storedAt } = item;
  const facts = { client, name, file, archiveId, ...digestOf(item), size, storedAt };
  const spool = ctx.layout.tmpPath(`${randomBytes(8).toString("hex")}.members`);
  const { members: table } = await scanArchive(path, spool).catch(async (err) => {
    await fetched?.remove();
    throw asStorageError(err, `cannot read ${client}/${file} in the trash`);
  });
  const at = (i: number) => ({
    id: chunkIdHex(table.id(i)),
    offset: table.offset(i),
    length: table.length(i),
    rawLength: table.rawLength(i),
  });
  return {
    path,
    recordPath: fetched?.recordPath ?? ctx.layout.trashedSignedPath(client, item.item),
    facts,
    count: table.count,
    members: () =>
      withLeads(
        (function* () {
          for (let i = 0; i < table.count; i++) yield at(i);
        })(),
      ),
    member: (index) => {
      if (!Number.isInteger(index) || index < 0 || index >= table.count) return undefined;
      const m = at(index);
      return { ...m, lead: m.offset - (index > 0 ? table.offset(index - 1) + table.length(index - 1) : 0) };
    },
    release: async () => {
      table.dispose();
      await fetched?.remove();
    },
  };
}

/** `members` (in file order) with the filler bytes before each. */
function* withLeads(members: Iterable<{ id: string; offset: number; length: number; rawLength: number }>): Generator<SentMember> {
  let end = 0;
  for (const { id, offset, length, rawLength } of members) {
    yield { id, offset, length, rawLength, lead: offset - end };
    end = offset + length;
  }
}
