// Commit of an upload: check the manifest against the client's header, then assemble, install and record the archive.
import { unlink } from "node:fs/promises";
import { HashRelayError } from "../errors.ts";
import { CHUNK_MAX, MAX_CHUNKS_PER_ARCHIVE, SHA256_HEX } from "../protocol/constants.ts";
import type { SignedDoc } from "../protocol/signed-document.ts";
import { installArchive, type AssembledArchive } from "./assemble.ts";
import type { ArchiveRow, IndexEntry } from "./index-entry.ts";
import { checkArchiveFile, pathExists } from "./layout.ts";
import { NoIntactCopy, ReusedMemberDamaged } from "./damage-found.ts";
import { memberSources } from "./member-sources.ts";
import { writeSignedRecord, type ReceiptFacts, type SignedRecord } from "./signed-record.ts";
import type { UploadParts } from "./upload-host.ts";
import { newAssembler, type WriteAhead } from "./write-ahead.ts";

/** What the client's signed manifest says at commit: the archive it wants stored. */
export interface UploadHeader {
  name: string;
  file: string;
  /** Hex SHA-256 of the canonical manifest. */
  archiveId: string;
  /** Number of manifest entries (chunks), 1..MAX_CHUNKS_PER_ARCHIVE. */
  chunks: number;
  /** Sum of the entries' raw lengths. */
  rawSize: number;
}

/**
 * What the server keeps beside a new archive (signed-record.ts): the manifest the client signed, and the
 * server's receipt, signed over the facts of the stored file (its identity is the server's, not the store's).
 */
export interface ArchiveSigning {
  manifest: SignedDoc;
  signReceipt: (facts: ReceiptFacts) => SignedDoc;
  /**
   * Called once the archive is in place, indexed, audited and judged against its predecessor (holds), before
   * retention moves that predecessor to the trash: the session sends its receipt here, so the client does not
   * wait for the trash. Must not throw.
   */
  stored?: (entry: IndexEntry) => Promise<void>;
}

/** Refuses (BAD_FRAME) a header that is malformed or names a file that is not an archive of its name. */
export function checkUploadHeader(header: UploadHeader): void {
  if (typeof header !== "object" || header === null) throw new HashRelayError("BAD_FRAME", "commit without an archive header");
  checkArchiveFile(header.name, header.file);
  if (typeof header.archiveId !== "string" || !SHA256_HEX.test(header.archiveId)) {
    throw new HashRelayError("BAD_FRAME", `archive id of ${header.file} is not 64 lower-case hex digits`);
  }
  if (!Number.isSafeInteger(header.chunks) || header.chunks < 1 || header.chunks > MAX_CHUNKS_PER_ARCHIVE) {
    throw new HashRelayError("BAD_FRAME", `${header.file}: chunk count ${header.chunks} is outside 1..${MAX_CHUNKS_PER_ARCHIVE}`);
  }
  if (!Number.isSafeInteger(header.rawSize) || header.rawSize < 0 || header.rawSize > header.chunks * CHUNK_MAX) {
    throw new HashRelayError("BAD_FRAME", `${header.file}: raw size ${header.rawSize} cannot be made of ${header.chunks} chunks`);
  }
}

/** Refuses (BAD_FRAME) a header (checkUploadHeader) that is not for the archive this upload was offered as. */
export function checkHeaderMatches({ name, format }: UploadParts, header: UploadHeader): void {
  checkUploadHeader(header);
  if (header.name !== name) throw new HashRelayError("BAD_FRAME", `commit names ${header.name}, the upload was offered as ${name}`);
  if (!header.file.endsWith(`.${format}`))
    throw new HashRelayError("BAD_FRAME", `commit names ${header.file}, the upload was offered as a .${format} archive`);
}

/**
 * Checks the entries received against the header: BAD_FRAME when their count or raw total differ
 * or a chunk asked for never arrived, HASH_MISMATCH when they do not hash to the archive id.
 */
export function checkManifestWhole({ name, entries }: UploadParts, header: UploadHeader): void {
  const { file, chunks, rawSize, archiveId } = header;
  if (entries.count !== chunks) {
    throw new HashRelayError("BAD_FRAME", `manifest of ${file} declares ${chunks} entries, ${entries.count} arrived`);
  }
  if (entries.rawTotal !== rawSize) {
    throw new HashRelayError("BAD_FRAME", `manifest of ${file} adds up to ${entries.rawTotal} raw bytes, the offer said ${rawSize}`);
  }
  if (entries.archiveId() !== archiveId) {
    throw new HashRelayError(
      "HASH_MISMATCH",
      `manifest of ${file} does not match its archive id ${archiveId}`,
      "the client's manifest changed or was damaged in transit; the next backup retries",
    );
  }
  if (entries.missing > 0) {
    throw new HashRelayError(
      "BAD_FRAME",
      `${entries.missing} chunk(s) of ${name} asked for never arrived (first: ${entries.firstMissing()})`,
    );
  }
}

/**
 * Under the client lock, with a checked, whole manifest: assembles the archive in tmp (going on from
 * what `ahead` wrote), fsyncs, writes its signed record (with `signing`), renames it into place and
 * records it. When `header.file` is already stored with this archive id, returns its entry. Throws
 * STORAGE when that name has another archive, NO_SPACE, and what memberSources and assembling throw;
 * nothing partial is left under a final name.
 */
export async function storeArchive(
  parts: UploadParts,
  ahead: WriteAhead,
  header: UploadHeader,
  signing?: ArchiveSigning,
): Promise<IndexEntry> {
  const { host, client, entries } = parts;
  const { file, archiveId } = header;
  const existing = await host.existingEntry(client, file);
  if (existing) {
    if (existing.archiveId === archiveId) return existing;
    throw new HashRelayError(
      "STORAGE",
      `${client}/${file} is already stored with other content`,
      "a stored archive is never overwritten; the next backup gets a new time stamp",
    );
  }
  const started = performance.now();
  const { assembler, built, aheadEntries, waitMs, appendMs } = await assembleHealing(parts, ahead, header, started);
  const assembleMs = Math.round(performance.now() - started);
  let entry: IndexEntry;
  try {
    entry = await installFile(parts, header, assembler.tmp, built, signing);
  } finally {
    built.members.dispose();
  }
  // For admins timing commits: what was left to write at commit (aheadEntries were written while the upload
  // ran; waitMs: the batch in progress then; appendMs: the rest; the fsync ends assembleMs).
  host.log("debug", "commit.assembled", {
    client,
    file,
    size: built.size,
    written: built.written,
    aheadEntries,
    entries: entries.count,
    waitMs,
    appendMs,
    assembleMs,
    commitMs: Math.round(performance.now() - started),
  });
  return entry;
}

/** Heal attempts per commit: each one finds one more damaged reused member (and records it) before it gives up. */
export const MAX_HEALS = 4;

/**
 * Assembles the new archive in tmp, going on from what `ahead` wrote. A reused member found damaged
 * (ReusedMemberDamaged) is recorded in the damage book, and the archive is assembled again from the
 * start, from another intact copy of that chunk the client holds (in another of its archives, or its
 * staging pool); with none, memberSources throws HASH_MISMATCH and the next backup is asked for it.
 * At most MAX_HEALS times: beyond, the last finding is thrown. The caller owns the returned assembler.
 */
async function assembleHealing(parts: UploadParts, ahead: WriteAhead, header: UploadHeader, started: number) {
  const { host, client, entries } = parts;
  const written = await ahead.take();
  const waitMs = Math.round(performance.now() - started);
  let assembler = written ?? (await newAssembler(parts));
  const aheadEntries = assembler.count;
  let found: ReusedMemberDamaged | null = null;
  for (let heals = 0; ; heals++) {
    try {
      const sources = memberSources(parts, assembler.count, entries.count, assembler.lastStored);
      const into = assembler;
      await host.writeArchive(into.bytesToWrite(sources), `${client}/${header.file}`, () => into.append(sources));
      const appendMs = Math.round(performance.now() - started) - waitMs;
      return { assembler, built: await assembler.finish(), aheadEntries, waitMs, appendMs };
    } catch (err) {
      await assembler.discard();
      // no intact copy of what was found: the error names the damaged member, and says what happens next
      if (err instanceof NoIntactCopy && found) throw new NoIntactCopy(`${found.message}, and no intact copy is stored`);
      if (!(err instanceof ReusedMemberDamaged) || heals >= MAX_HEALS) throw err;
      found = err;
      await host.reusedDamaged(err);
      host.log("warn", "commit.healing", { client, file: header.file, damaged: err.message });
      assembler = await newAssembler(parts);
    }
  }
}

/**
 * Writes the archive's signed record (with `signing`), then renames the assembled file into place, checks
 * its size, and has the host record it: no archive is ever in place without its record.
 */
async function installFile(
  parts: UploadParts,
  header: UploadHeader,
  tmp: string,
  built: AssembledArchive,
  signing: ArchiveSigning | undefined,
): Promise<IndexEntry> {
  const { host, client } = parts;
  const { name, file, archiveId } = header;
  const facts: ReceiptFacts = {
    client,
    name,
    file,
    archiveId,
    piecesSha256: built.piecesSha256,
    size: built.size,
    storedAt: new Date(host.now()).toISOString(),
  };
  const record: SignedRecord | undefined = signing && { manifest: signing.manifest, receipt: signing.signReceipt(facts) };
  if (record)
    await writeSignedRecord(host.layout.signedPath(client, file), record).catch(async (err) => {
      await unlink(tmp).catch(() => undefined);
      throw err;
    });
  const stats = await installArchive(host.layout, client, file, tmp).catch(async (err) => {
    if (record && !(await pathExists(host.layout.archivePath(client, file))))
      await unlink(host.layout.signedPath(client, file)).catch(() => undefined);
    throw err;
  });
  if (stats.size !== built.size) {
    throw new HashRelayError("STORAGE", `${client}/${file}: stored ${stats.size} bytes, expected ${built.size}`);
  }
  const row: ArchiveRow = { ...facts, mtimeMs: stats.mtimeMs, ...(record ? { receipt: record.receipt } : {}) };
  return host.accepted(row, built.members, signing?.stored);
}
