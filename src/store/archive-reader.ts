// Reading stored archives back: one chunk for a delta rebuild, or a whole archive (stored or trashed) for a restore.
import { open } from "node:fs/promises";
import { HashRelayError } from "../errors.ts";
import { inflateMember } from "../archive/gzip-member.ts";
import { CHUNK_MAX, SHA256_HEX } from "../protocol/constants.ts";
import type { SignedDoc } from "../protocol/signed-document.ts";
import { readExactly, scanArchive } from "./archive-file.ts";
import type { OpenFiles } from "./open-files.ts";
import { readSignedRecord, type ReceiptFacts } from "./signed-record.ts";
import { asStorageError } from "./storage-error.ts";
import type { ArchiveRow } from "./index-entry.ts";
import type { StoreContext } from "./store-context.ts";
import { listTrashed } from "./trashed-archives.ts";

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
  members: { id: string; offset: number; length: number; rawLength: number }[];
  /** Reads exactly `length` bytes at `offset`; throws STORAGE when the file is shorter. */
  read: (offset: number, length: number) => Promise<Uint8Array>;
  close: () => Promise<void>;
}

/**
 * The raw bytes of a chunk one of the client's (checked) stored archives contains, or null when none
 * does. Reads and inflates one member, keeping its archive open in `files`. Throws BAD_FRAME on a bad
 * id, STORAGE when the archive cannot be read or the member is damaged.
 */
export function readChunk(ctx: StoreContext, client: string, idHex: string, files: OpenFiles): Uint8Array | null {
  if (typeof idHex !== "string" || !SHA256_HEX.test(idHex))
    throw new HashRelayError("BAD_FRAME", `chunk id ${JSON.stringify(idHex)} is not 64 lower-case hex digits`);
  const location = ctx.index.locate(client, new Uint8Array(Buffer.from(idHex, "hex")));
  if (!location) return null;
  const what = `${client}/${location.file}`;
  let member: Uint8Array;
  try {
    member = files.read(ctx.layout.archivePath(client, location.file), location.offset, location.length, what);
  } catch (err) {
    throw err instanceof HashRelayError ? err : new HashRelayError("STORAGE", `cannot read ${what}: ${(err as Error).message}`);
  }
  try {
    return inflateMember(member, CHUNK_MAX);
  } catch (err) {
    throw new HashRelayError("STORAGE", `${what}: member at ${location.offset} is damaged (${(err as Error).message})`);
  }
}

/**
 * Archive `file` of (checked) `client` opened for sending back: the stored file, else the newest
 * trashed item that was that file, with its receipt facts and signed record. Members come from the
 * index for a stored archive, from a scan for a trashed one; the reader checks nothing, the restoring
 * client does. Throws STORAGE when no such archive is there or it cannot be read.
 */
export async function archiveToSend(ctx: StoreContext, client: string, file: string): Promise<ArchiveSource> {
  const row = ctx.index.archive(client, file);
  const located = row ? storedArchive(ctx, row) : await trashedArchive(ctx, client, file);
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
    members: located.members,
    read: (offset, length) => readExactly(handle, offset, length, `${client}/${file}`),
    close: () => handle.close(),
  };
}

type Located = { path: string; recordPath: string; facts: ReceiptFacts; members: ArchiveSource["members"] };

/** A stored archive's path, facts and members as the index records them. */
function storedArchive(ctx: StoreContext, row: ArchiveRow): Located {
  const { client, name, file, archiveId, fileSha256, size, storedAt } = row;
  return {
    path: ctx.layout.archivePath(client, file),
    recordPath: ctx.layout.signedPath(client, file),
    facts: { client, name, file, archiveId, fileSha256, size, storedAt },
    members: ctx.index.membersWithSha(client, file).map((m) => ({ id: m.id, offset: m.offset, length: m.length, rawLength: m.rawLength })),
  };
}

/** The newest trashed item that was `file`, its facts, and its members found by scanning it. Throws STORAGE when there is none or it cannot be read. */
async function trashedArchive(ctx: StoreContext, client: string, file: string): Promise<Located> {
  const item = (await listTrashed(ctx, client)).filter((t) => t.file === file).at(-1);
  if (!item) throw new HashRelayError("STORAGE", `no archive ${file} is stored or in the trash for ${client}`);
  const path = ctx.layout.trashPath(client, item.item);
  const { name, archiveId, fileSha256, size, storedAt } = item;
  const facts = { client, name, file, archiveId, fileSha256, size, storedAt };
  const scanned = await scanArchive(path).catch((err) => {
    throw asStorageError(err, `cannot read ${client}/${file} in the trash`);
  });
  const table = scanned.members;
  const members = Array.from({ length: table.count }, (_, i) => ({
    id: Buffer.from(table.id(i)).toString("hex"),
    offset: table.offset(i),
    length: table.length(i),
    rawLength: table.rawLength(i),
  }));
  return { path, recordPath: ctx.layout.trashedSignedPath(client, item.item), facts, members };
}
