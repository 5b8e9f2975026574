// One source, one session: walk → offer → stream manifest pages → send what the server needs → commit → receipt.
import { HashRelayError, asHashRelayError } from "../errors.ts";
import {
  FrameType,
  IDLE_TIMEOUT_MS,
  MANIFEST_PAGE_ENTRIES,
  MAX_CHUNK_FRAME,
  MAX_DELTA_SOURCES,
  AEAD_TAG_BYTES,
  PROOF_ROUNDS,
  COMMIT_TIMEOUT_MS,
} from "../protocol/constants.ts";
import { proofTokens } from "../protocol/proof.ts";
import { decodeNeed, encodeManifestPage, type ManifestEntry } from "../protocol/binary-frames.ts";
import { signDocument, verifyDocument, type SignedDoc } from "../protocol/signed-document.ts";
import type { Identity } from "../protocol/identity.ts";
import type { SourceResult } from "./source-result.ts";
import { archiveFileName, type ArchiveFormat } from "../archive/naming.ts";
import { archiveIdOf, chunkIdHex } from "../archive/manifest.ts";
import { BaseManifest, diffAgainstBase, encodeDiffPage } from "../archive/manifest-diff.ts";
import {
  BlockIndex,
  blocksOf,
  copySourcesOf,
  decodeBlockIndex,
  encodeBlockIndex,
  encodeChunkDelta,
  type ChunkBlocks,
} from "../archive/chunk-delta.ts";
import type { SourceConfig } from "../config/parse-config.ts";
import { walkSource, fingerprintEntries, type WalkResult } from "./tree-walk.ts";
import { blockKey } from "../io/block-key.ts";
import { ChunkWorkers } from "../io/chunk-workers.ts";
import type { ProofStore, ProofRows } from "./proof-store.ts";
import type { Logger } from "../io/log.ts";
import type { ClientState, SourceRecord } from "./state.ts";
import type { SecureSession } from "../session/secure-session.ts";

/**
 * Raw bytes of chunks held in memory before a page is offered: the client's memory bound for one
 * archive is this window plus one chunk being built (CHUNK_MAX) plus one read buffer (1 MiB).
 */
export const PAGE_WINDOW_BYTES = 8 * 1024 * 1024;
/**
 * A page also goes out once its entries cover this many bytes of the tar stream, kept or not: chunks
 * found in the base are not kept, and the server writes the new archive ahead from pages it has
 * (Upload's write ahead), so a re-read 200 MiB image must not ride in one last page.
 */
const PAGE_SPAN_BYTES = 16 * 1024 * 1024;
/** Bumped when the tar layout changes, so fingerprints from an older layout never match (the member format is added per source). */
const ARCHIVE_LAYOUT = "tar/1";
/** A delta is sent instead of the whole chunk when at most this share of its bytes is literal. */
const DELTA_MAX_LITERAL_SHARE = 0.5;
const MAX_DELTA_BODY = MAX_CHUNK_FRAME - AEAD_TAG_BYTES - 4;
/**
 * Array buffer bytes (live and dead) allowed before a full collection at a page boundary: every chunk
 * that travels leaves its payload and sealed frame behind, and JSC collects lazily on a machine with
 * RAM to spare. Measured on the benchmark's first backup (166 MiB sent, 2 cores): collecting whenever
 * the resident size grew 32 MiB made 53 collections (~2.5 s of the main thread) for a 194-208 MiB
 * peak; this budget, 9 collections (~0.5 s) for 221 MiB.
 */
const GARBAGE_BUDGET_BYTES = 32 * 1024 * 1024;
/** Proof answers of chunks in no source's last archive are forgotten this long after the chunk was last backed up. */
const PROOF_KEEP_MS = 30 * 24 * 3600 * 1000;

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
  /** Archive format of new archives (client.compression). */
  format: ArchiveFormat;
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

/** The block index of the previous archive, if it is intact and matches the record. */
function loadBlockIndex(ctx: UploadContext, previous: SourceRecord | null): BlockIndex | null {
  if (!previous) return null;
  const bytes = ctx.state.blocks(previous.name);
  const chunks = bytes ? decodeBlockIndex(bytes) : null;
  if (!chunks) return null;
  const index = new BlockIndex(chunks);
  return archiveIdOf(index.manifest) === previous.archiveId ? index : null;
}

/**
 * Backs up one source. Local failures return a failed result; failures that leave the session unusable
 * throw SessionSpoiled. `walking`: the source's walk, already started (runTick walks the first source
 * while the handshake is under way); its rejection is handled like a walk's here.
 */
export async function backupSource(
  session: SecureSession,
  source: SourceConfig,
  ctx: UploadContext,
  walking?: Promise<WalkResult>,
): Promise<SourceResult> {
  const result: SourceResult = { name: source.name, archive: null, status: "failed", bytesSent: 0, chunksTotal: 0, chunksSent: 0 };
  let walked;
  try {
    walked = await (walking ?? walkSource(source.path, source.exclude));
  } catch (err) {
    return { ...result, error: asHashRelayError(err, "SOURCE").describe() };
  }
  for (const skipped of walked.skipped) ctx.log.log("warn", `skipped ${skipped}`, { name: source.name });
  const progress: UploadProgress = {
    name: source.name,
    totalBytes: estimateTarBytes(walked.store.entrySizes()),
    bytesHashed: 0,
    bytesSent: 0,
  };
  ctx.onProgress?.(progress);

  const fingerprint = fingerprintEntries(walked.store, `${ARCHIVE_LAYOUT}|${ctx.format}|${source.name}|${source.exclude.join("\u0000")}`);
  const previous = ctx.state.source(source.name);
  const claimed = previous && previous.fingerprint === fingerprint ? previous.archiveId : undefined;
  // The last archive is a base only in the same format: the server deduplicates per format.
  const blockIndex = claimed || !previous?.file.endsWith(`.${ctx.format}`) ? null : loadBlockIndex(ctx, previous);

  let inTransfer = false;
  let usedDeltas = false;
  let proofs: ProofStore | null = null;
  let workers = new ChunkWorkers(ctx.format);
  try {
    await session.sendControl({
      type: "offer",
      name: source.name,
      ...(claimed ? { archiveId: claimed } : {}),
      ...(blockIndex ? { base: previous!.archiveId } : {}),
      ...(ctx.format !== "tar.gz" ? { format: ctx.format } : {}),
    });
    const answer = await session.expect(["have", "send-manifest"], IDLE_TIMEOUT_MS);
    if (answer.type === "have") {
      const receipt = await checkReceipt(answer.receipt, session.clientName, source.name, claimed, ctx);
      return {
        ...result,
        status: "unchanged",
        archive: receipt.file,
        chunksTotal: previous?.chunks ?? 0,
        ...(answer.held ? { held: answer.held } : {}),
      };
    }
    // Loaded only when something is to be read: an unchanged source never evaluates zlib or sqlite (~7 MiB).
    const [{ buildArchive }, { deflateRaw }, { ProofStore }] = await Promise.all([
      import("./archive-builder.ts"),
      import("../io/compress.ts"),
      import("./proof-store.ts"),
    ]);
    const base = answer.base && blockIndex ? { index: blockIndex, manifest: new BaseManifest(blockIndex.manifest) } : null;
    // Proof answers are made for chunks read now, while their bytes are here (hashrelay verify spends them).
    try {
      proofs = ProofStore.open(ctx.state.proofsFile);
      workers = new ChunkWorkers(ctx.format, proofs.secret);
    } catch (err) {
      ctx.log.log("warn", `no proof answers made for this backup: ${(err as Error).message}`, { name: source.name });
    }
    const newProofs: ProofRows[] = [];

    inTransfer = true;
    // NOW has one-second resolution: never reuse the name of the archive this source already has.
    let at = ctx.now();
    if (previous && archiveFileName(source.name, at, ctx.format) === previous.file) {
      await new Promise((resolve) => setTimeout(resolve, 1001 - at.getUTCMilliseconds()));
      at = ctx.now();
    }
    const file = archiveFileName(source.name, at, ctx.format);
    const newBlocks: ChunkBlocks[] = [];
    type WorkerResult = Awaited<ReturnType<ChunkWorkers["run"]>>;
    /**
     * `early`: the worker job started as the chunk was cut, before the server's answer, when the chunk
     * will almost surely travel whole (no base to describe it against): the workers compress while the
     * page is offered and the previous one is sent. Its raw bytes went to the worker.
     */
    type Page = {
      entries: ManifestEntry[];
      raws: (Uint8Array | null)[];
      early: (Promise<WorkerResult> | null)[];
      bytes: number;
      span: number;
      first: number;
      startedAt: number;
    };
    const emptyPage = (first: number): Page => ({ entries: [], raws: [], early: [], bytes: 0, span: 0, first, startedAt: Date.now() });
    const proofFirstOf = (id: Uint8Array) => (proofs ? proofs.roundsToAdd(id) : null);
    /** Keeps the proof answers of chunk `id` from round `first` (made by a worker or here). */
    const keepProofs = (id: Uint8Array, first: number | null, tokens: Uint8Array | null) => {
      if (tokens && first !== null) newProofs.push({ id, first, tokens });
    };
    /** Makes proof answers here, for a chunk that goes to no worker, while its bytes are at hand. */
    const proofsHere = (id: Uint8Array, raw: Uint8Array, first: number | null) =>
      keepProofs(id, first, proofs && first !== null ? proofTokens(proofs.secret, id, raw, first, PROOF_ROUNDS) : null);
    let page = emptyPage(0);

    /** The delta frame payload for a needed chunk, or null when sending the whole chunk is better. */
    const deltaFor = (index: number, raw: Uint8Array, blocks: ChunkBlocks): Uint8Array | null => {
      if (!base) return null;
      const delta = encodeChunkDelta(raw, blocks, base.index);
      if (delta.literalBytes > raw.length * DELTA_MAX_LITERAL_SHARE) return null;
      if (new Set(copySourcesOf(delta.ops).map(chunkIdHex)).size > MAX_DELTA_SOURCES) return null;
      const body = deflateRaw(delta.ops);
      if (body.length > MAX_DELTA_BODY) return null;
      const payload = new Uint8Array(4 + body.length);
      new DataView(payload.buffer).setUint32(0, index);
      payload.set(body, 4);
      return payload;
    };

    /** Offers page `p` and reads the server's NEED for it: the indexes it asks for. */
    const offerPage = async (p: Page): Promise<Set<number>> => {
      const body = base
        ? encodeDiffPage(p.first, p.entries.length, diffAgainstBase(p.entries, base.manifest))
        : encodeManifestPage({ firstIndex: p.first, entries: p.entries });
      await session.sendBinary(base ? FrameType.SEALED_MANIFEST_DIFF : FrameType.SEALED_MANIFEST, body);
      const need = decodeNeed(await session.expectBinary(FrameType.SEALED_NEED, IDLE_TIMEOUT_MS));
      if (need.firstIndex !== p.first || need.count !== p.entries.length) {
        throw new HashRelayError(
          "BAD_FRAME",
          `server answered for chunks ${need.firstIndex}+${need.count}, expected ${p.first}+${p.entries.length}`,
        );
      }
      return new Set(need.needed);
    };

    /**
     * Sends what the server needs of page `p`, in order, once every chunk of the pages before it is
     * out (`sentBefore`). The deltas are made (and the other chunks handed to the worker threads) before
     * that wait, while the server is still taking in the previous page's chunks.
     */
    const sendNeeded = async (p: Page, needed: Set<number>, sentBefore: Promise<unknown>) => {
      type Outcome = { blocks: ChunkBlocks; frame?: { type: number; payload: Uint8Array; bytes: number } };
      const outcomes: Promise<Outcome>[] = p.entries.map((entry, i) => {
        const index = p.first + i;
        const raw = p.raws[i];
        const known = blockIndex?.blocksOfChunk(entry.id);
        const early = p.early[i];
        if (early) {
          return early.then((r) => {
            if (!needed.has(index)) return { blocks: r.blocks }; // held already (the same bytes earlier in this archive): compressed for nothing
            return { blocks: r.blocks, frame: { type: FrameType.SEALED_CHUNK, payload: r.payload!, bytes: r.payload!.length - 4 } };
          });
        }
        if (!raw) {
          // taken from the base without reading, or read and found in the base: the server holds the base, so it never needs it
          if (needed.has(index) || !known)
            return Promise.reject(
              new HashRelayError(
                "STORAGE",
                `server no longer holds chunk ${index} of its base archive`,
                "the next backup reads and sends everything it lacks",
              ),
            );
          return Promise.resolve({ blocks: known });
        }
        const proofFirst = proofFirstOf(entry.id);
        if (!needed.has(index)) {
          if (known) {
            proofsHere(entry.id, raw, proofFirst);
            return Promise.resolve({ blocks: known });
          }
          return workers
            .run(entry.id, raw, null, proofFirst)
            .then((r) => (keepProofs(entry.id, proofFirst, r.tokens), { blocks: r.blocks }));
        }
        if (base) {
          const blocks = known ?? blocksOf(entry.id, raw, blockKey);
          const payload = deltaFor(index, raw, blocks);
          if (payload) {
            proofsHere(entry.id, raw, proofFirst);
            return Promise.resolve({ blocks, frame: { type: FrameType.SEALED_CHUNK_DELTA, payload, bytes: payload.length - 4 } });
          }
        }
        return workers.run(entry.id, raw, index, proofFirst).then((r) => {
          keepProofs(entry.id, proofFirst, r.tokens);
          return { blocks: r.blocks, frame: { type: FrameType.SEALED_CHUNK, payload: r.payload!, bytes: r.payload!.length - 4 } };
        });
      });
      // If the page fails half way, the jobs not awaited yet are rejected when the workers close: not an unhandled rejection.
      for (const outcome of outcomes) outcome.catch(() => undefined);
      await sentBefore;
      for (const outcome of outcomes) {
        const { blocks, frame } = await outcome;
        newBlocks.push(blocks);
        if (!frame) continue;
        if (frame.type === FrameType.SEALED_CHUNK_DELTA) usedDeltas = true;
        await session.sendBinary(frame.type, frame.payload);
        result.bytesSent += frame.bytes;
        result.chunksSent++;
        progress.bytesSent = result.bytesSent;
        ctx.onProgress?.(progress);
      }
    };

    // Pipeline (PROTOCOL.md §10 step 4): page k+1 is offered as soon as the NEED of page k is read, so
    // the server answers it while page k's chunks are still being made and sent, and those of page k+1
    // are ready when page k's are out. Page k+2 is read and chunked only once page k's chunks are out:
    // two windows of raw bytes at most, one being sent and one being read or offered.
    let needRead: Promise<unknown> = Promise.resolve();
    let sent: Promise<unknown> = Promise.resolve();
    const flush = async () => {
      if (page.entries.length === 0) return;
      const full = page;
      page = emptyPage(full.first + full.entries.length);
      await needRead;
      const sentBefore = sent;
      const offered = offerPage(full);
      sent = (async () => {
        const needed = await offered;
        // One macrotask first: a flush waiting for this NEED sends the next page's offer before the
        // deltas are made here, and the server answers it meanwhile.
        await new Promise((resolve) => setImmediate(resolve));
        await sendNeeded(full, needed, sentBefore);
      })();
      needRead = offered;
      // Awaited in turn (the next flush, the end of the source); this only keeps an early failure from being unhandled.
      offered.catch(() => undefined);
      sent.catch(() => undefined);
      await sentBefore;
      if (process.memoryUsage().arrayBuffers > GARBAGE_BUDGET_BYTES) Bun.gc(true);
    };

    const keys = walked.entries.map((e) =>
      JSON.stringify([
        e.type,
        e.mode,
        e.uid,
        e.gid,
        e.uname,
        e.gname,
        e.size,
        String(e.mtimeNs),
        String(e.ctimeNs),
        String(e.ino),
        e.linkTarget ?? null,
      ]),
    );
    const lastSegments = base ? ctx.state.segments(source.name) : null;
    const previousStream =
      lastSegments && lastSegments.archiveId === previous?.archiveId
        ? { segments: lastSegments.segments, chunks: base!.index.manifest }
        : undefined;
    const summary = await buildArchive(walked.entries, {
      compress: false,
      keys,
      previous: previousStream,
      onChunk: async (chunk) => {
        // chunk.raw is the builder's view, valid during this call: whatever is kept is copied.
        page.entries.push({ id: chunk.id, rawLength: chunk.rawLength });
        page.span += chunk.rawLength;
        const known = chunk.raw !== null && blockIndex?.blocksOfChunk(chunk.id);
        if (chunk.raw && base && known) {
          // In the base the server holds: it will not be asked for, so its bytes are not kept (as for
          // chunks not read at all); only proof answers running low are made while the bytes are here.
          proofsHere(chunk.id, chunk.raw, proofFirstOf(chunk.id));
          page.early.push(null);
          page.raws.push(null);
        } else if (chunk.raw && !base && !known) {
          // ChunkWorkers.run copies the view for the worker
          const proofFirst = proofFirstOf(chunk.id);
          const early = workers
            .run(chunk.id, chunk.raw, chunk.index, proofFirst)
            .then((r) => (keepProofs(chunk.id, proofFirst, r.tokens), r));
          early.catch(() => undefined); // awaited in sendNeeded; a failure before that is not unhandled
          page.early.push(early);
          page.raws.push(null);
          page.bytes += chunk.rawLength;
        } else {
          page.early.push(null);
          page.raws.push(chunk.raw && chunk.raw.slice());
          page.bytes += chunk.raw?.length ?? 0;
        }
        // Chunks taken over from the last archive without reading count as hashed: the bar follows the tar stream.
        progress.bytesHashed += chunk.rawLength;
        ctx.onProgress?.(progress);
        // A page also goes out when building it took long (slow disk), so the server never sees an idle session.
        if (
          page.bytes >= PAGE_WINDOW_BYTES ||
          page.span >= PAGE_SPAN_BYTES ||
          page.entries.length >= MANIFEST_PAGE_ENTRIES ||
          Date.now() - page.startedAt > IDLE_TIMEOUT_MS / 2
        )
          await flush();
      },
    });
    await flush();
    await sent;
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
        createdAt: at.toISOString(),
        configHash: ctx.configHash,
      },
      ctx.identity,
    );
    await session.sendControl({ type: "commit", manifest });
    // While the server assembles and stores the archive, the new block index and segments are written
    // and fsynced beside the current ones; they replace them only once the receipt checked out (a
    // failed commit leaves the last archive's in place, and no temp file).
    let settle: (stored: boolean) => void = () => undefined;
    const stored = new Promise<boolean>((resolve) => (settle = resolve));
    const saving = Promise.all([
      ctx.state.saveBlocks(source.name, encodeBlockIndex(newBlocks), stored),
      ctx.state.saveSegments(source.name, summary.archiveId, summary.segments, stored),
    ]);
    saving.catch(() => undefined); // awaited below, whichever way the commit goes
    let done;
    let receipt;
    try {
      done = await session.expect(["receipt", "have"], COMMIT_TIMEOUT_MS);
      inTransfer = false;
      receipt = await checkReceipt(done.receipt, session.clientName, source.name, summary.archiveId, ctx);
      settle(true);
    } catch (err) {
      settle(false);
      await saving.catch(() => undefined);
      throw err;
    }
    if (proofs) {
      const nowMs = ctx.now().getTime();
      try {
        proofs.add(newProofs, nowMs);
        proofs.setSourceChunks(
          source.name,
          newBlocks.map((b) => b.id),
          nowMs,
          nowMs - PROOF_KEEP_MS,
        );
      } catch (err) {
        // The archive is stored and receipted: a proof file that cannot be written costs verify, not the backup.
        ctx.log.log("warn", `proof answers of this backup not recorded: ${(err as Error).message}`, { name: source.name });
      }
    }
    await saving;
    await ctx.state.saveSource({
      name: source.name,
      fingerprint,
      archiveId: summary.archiveId,
      file: receipt.file,
      chunks: summary.chunks,
      at: at.toISOString(),
    });
    const unchanged = done.type === "have" || (result.chunksSent === 0 && previous?.archiveId === summary.archiveId);
    return { ...result, status: unchanged ? "unchanged" : "sent", archive: receipt.file, ...(done.held ? { held: done.held } : {}) };
  } catch (err) {
    const error = asHashRelayError(err);
    // A delta the server could not apply (a base chunk gone, a block key collision), or a base chunk it no
    // longer holds: next time, read everything and send whole chunks.
    if ((usedDeltas && error.code === "HASH_MISMATCH") || error.code === "STORAGE") ctx.state.dropBlocks(source.name);
    const failed = { ...result, error: error.describe() };
    if (inTransfer || error.code !== "SOURCE") throw new SessionSpoiled(failed);
    return failed;
  } finally {
    workers.close();
    proofs?.close();
  }
}

/** The tar stream's size, near enough for a progress bar: a header per entry, contents padded to 512, two end blocks. */
function estimateTarBytes(sizes: Float64Array): number {
  return sizes.reduce((total, size) => total + 512 + Math.ceil(size / 512) * 512, 1024);
}

/** Verifies the server's signature and that the receipt is for what we sent; keeps it under state/receipts. */
async function checkReceipt(receipt: SignedDoc, client: string, name: string, archiveId: string | undefined, ctx: UploadContext) {
  const body = verifyDocument(receipt, ctx.serverKey, "receipt");
  if (body.client !== client || body.name !== name || (archiveId !== undefined && body.archiveId !== archiveId)) {
    throw new HashRelayError("BAD_FRAME", `receipt is for ${body.client}/${body.name} ${body.archiveId}, not for what was sent`);
  }
  await ctx.state.saveReceipt(name, body.file, receipt);
  return body;
}
