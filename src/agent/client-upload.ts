// One source, one session: walk → offer → stream manifest pages → send what the server needs → commit → receipt.
import { HashRelayError, asHashRelayError } from "../errors.ts";
import { FrameType, IDLE_TIMEOUT_MS, MANIFEST_PAGE_ENTRIES } from "../protocol/constants.ts";
import { decodeNeed, encodeChunkPayload, encodeManifestPage, type ManifestEntry } from "../protocol/binary-frames.ts";
import { signDocument, verifyDocument, type ReceiptBody, type SignedDoc } from "../protocol/signed-document.ts";
import type { Identity } from "../protocol/identity.ts";
import { archiveFileName } from "../archive/naming.ts";
import type { SourceConfig } from "../config/parse-config.ts";
import { walkSource, fingerprintEntries } from "../io/tree-walk.ts";
import { buildArchive } from "../io/archive-builder.ts";
import type { Logger } from "../io/log.ts";
import type { ClientState } from "./client-state.ts";
import type { SecureSession } from "./secure-session.ts";

/**
 * Members held in memory before a page is offered: the client's memory bound for one archive
 * is this window plus one chunk being built (CHUNK_MAX) plus one read buffer.
 */
export const PAGE_WINDOW_BYTES = 8 * 1024 * 1024;
/** The server may need this long to assemble and verify a large archive after `commit`. */
const COMMIT_TIMEOUT_MS = 30 * 60_000;
/** Bumped when the archive format changes, so fingerprints from an older format never match. */
const ARCHIVE_FORMAT = "tar.gz/1";

export type SourceStatus = "sent" | "unchanged" | "skipped" | "failed";

export interface SourceResult {
  name: string;
  archive: string | null;
  status: SourceStatus;
  bytesSent: number;
  chunksTotal: number;
  chunksSent: number;
  error?: string;
}

/** How far one source has got; reported after the walk, after each chunk is built, and after each chunk is sent. */
export interface UploadProgress {
  name: string;
  /** The source's tar stream size as estimated from the walk (file sizes, headers, padding). */
  totalBytes: number;
  /** Raw bytes chunked (and hashed) so far. */
  bytesHashed: number;
  /** Archive payload bytes put on the wire so far. */
  bytesSent: number;
}

export interface UploadContext {
  identity: Identity;
  serverKey: Uint8Array;
  configHash: string;
  state: ClientState;
  log: Logger;
  now: () => Date;
  /** Must not throw; called often (once per chunk). */
  onProgress?: (progress: UploadProgress) => void;
}

/** Thrown when the session can no longer be used after a source failed mid-transfer. */
export class SessionSpoiled extends Error {
  constructor(readonly result: SourceResult) {
    super(result.error);
  }
}

/** Backs up one source. Local failures return a failed result; failures that leave the session unusable throw SessionSpoiled. */
export async function backupSource(session: SecureSession, source: SourceConfig, ctx: UploadContext): Promise<SourceResult> {
  const result: SourceResult = { name: source.name, archive: null, status: "failed", bytesSent: 0, chunksTotal: 0, chunksSent: 0 };
  let walked;
  try {
    walked = await walkSource(source.path, source.exclude);
  } catch (err) {
    return { ...result, error: asHashRelayError(err, "SOURCE").describe() };
  }
  for (const skipped of walked.skipped) ctx.log.log("warn", `skipped ${skipped}`, { name: source.name });
  const progress: UploadProgress = { name: source.name, totalBytes: estimateTarBytes(walked.entries), bytesHashed: 0, bytesSent: 0 };
  ctx.onProgress?.(progress);

  const fingerprint = fingerprintEntries(walked.entries, `${ARCHIVE_FORMAT}|${source.name}|${source.exclude.join("\u0000")}`);
  const previous = ctx.state.source(source.name);
  const claimed = previous && previous.fingerprint === fingerprint ? previous.archiveId : undefined;

  let inTransfer = false;
  try {
    await session.sendControl(claimed ? { type: "offer", name: source.name, archiveId: claimed } : { type: "offer", name: source.name });
    const answer = await session.expect(["have", "send-manifest"], IDLE_TIMEOUT_MS);
    if (answer.type === "have") {
      const receipt = await checkReceipt(answer.receipt, session.clientName, source.name, claimed, ctx);
      return { ...result, status: "unchanged", archive: receipt.file, chunksTotal: previous?.chunks ?? 0 };
    }

    inTransfer = true;
    // NOW has one-second resolution: never reuse the name of the archive this source already has.
    let at = ctx.now();
    if (previous && archiveFileName(source.name, at) === previous.file) {
      await new Promise((resolve) => setTimeout(resolve, 1001 - at.getUTCMilliseconds()));
      at = ctx.now();
    }
    const file = archiveFileName(source.name, at);
    const page = { entries: [] as ManifestEntry[], members: [] as Uint8Array[], bytes: 0, first: 0, startedAt: Date.now() };
    const flush = async () => {
      if (page.entries.length === 0) return;
      await session.sendBinary(FrameType.SEALED_MANIFEST, encodeManifestPage({ firstIndex: page.first, entries: page.entries }));
      const need = decodeNeed(await session.expectBinary(FrameType.SEALED_NEED, IDLE_TIMEOUT_MS));
      if (need.firstIndex !== page.first || need.count !== page.entries.length) {
        throw new HashRelayError("BAD_FRAME", `server answered for chunks ${need.firstIndex}+${need.count}, expected ${page.first}+${page.entries.length}`);
      }
      for (const index of need.needed) {
        const member = page.members[index - page.first]!;
        await session.sendBinary(FrameType.SEALED_CHUNK, encodeChunkPayload({ index, member }));
        result.bytesSent += member.length;
        result.chunksSent++;
        progress.bytesSent = result.bytesSent;
        ctx.onProgress?.(progress);
      }
      page.first += page.entries.length;
      page.entries = [];
      page.members = [];
      page.bytes = 0;
      page.startedAt = Date.now();
    };
    const summary = await buildArchive(walked.entries, {
      onChunk: async (chunk) => {
        page.entries.push({ id: chunk.id, rawLength: chunk.rawLength });
        page.members.push(chunk.member);
        page.bytes += chunk.member.length;
        progress.bytesHashed += chunk.rawLength;
        ctx.onProgress?.(progress);
        // A page also goes out when building it took long (slow disk, very compressible data), so the server never sees an idle session.
        if (page.bytes >= PAGE_WINDOW_BYTES || page.entries.length >= MANIFEST_PAGE_ENTRIES || Date.now() - page.startedAt > IDLE_TIMEOUT_MS / 2) await flush();
      },
    });
    await flush();
    for (const warning of summary.warnings) ctx.log.log("warn", warning, { name: source.name });
    result.chunksTotal = summary.chunks;

    const manifest = signDocument(
      {
        v: 1,
        kind: "manifest",
        client: session.clientName,
        name: source.name,
        file,
        archiveId: summary.archiveId,
        chunks: summary.chunks,
        rawSize: summary.rawSize,
        fileSize: summary.fileSize,
        fileSha256: summary.fileSha256,
        createdAt: at.toISOString(),
        configHash: ctx.configHash,
      },
      ctx.identity,
    );
    await session.sendControl({ type: "commit", manifest });
    const done = await session.expect(["receipt", "have"], COMMIT_TIMEOUT_MS);
    inTransfer = false;
    const receipt = await checkReceipt(done.receipt, session.clientName, source.name, summary.archiveId, ctx);
    await ctx.state.saveSource({ name: source.name, fingerprint, archiveId: summary.archiveId, file: receipt.file, chunks: summary.chunks, at: ctx.now().toISOString() });
    const unchanged = done.type === "have" || (result.chunksSent === 0 && previous?.archiveId === summary.archiveId);
    return { ...result, status: unchanged ? "unchanged" : "sent", archive: receipt.file };
  } catch (err) {
    const error = asHashRelayError(err);
    const failed = { ...result, error: error.describe() };
    if (inTransfer || error.code !== "SOURCE") throw new SessionSpoiled(failed);
    return failed;
  }

}

/** The tar stream's size, near enough for a progress bar: a header per entry, contents padded to 512, two end blocks. */
function estimateTarBytes(entries: readonly { size: number }[]): number {
  return entries.reduce((total, e) => total + 512 + Math.ceil(e.size / 512) * 512, 1024);
}

/** Verifies the server's signature and that the receipt is for what we sent; keeps it under state/receipts. */
async function checkReceipt(receipt: SignedDoc, client: string, name: string, archiveId: string | undefined, ctx: UploadContext): Promise<ReceiptBody> {
  const body = verifyDocument(receipt, ctx.serverKey, "receipt");
  if (body.client !== client || body.name !== name || (archiveId !== undefined && body.archiveId !== archiveId)) {
    throw new HashRelayError("BAD_FRAME", `receipt is for ${body.client}/${body.name} ${body.archiveId}, not for what was sent`);
  }
  await ctx.state.saveReceipt(name, body.file, receipt);
  return body;
}
