// The transfer stage, from `send-manifest` to the receipt: build the archive into pages, send what the server lacks, commit.
import { archiveFileName } from "../../archive/naming.ts";
import { PIPELINED_VERSION } from "../../protocol/constants.ts";
import type { SourceConfig } from "../../config/parse-config.ts";
import { ChunkWorkers } from "../chunk-workers.ts";
import type { SecureSession } from "../../session/secure-session.ts";
import { buildArchive, type ArchiveSummary, type PreviousStream } from "../archive-builder.ts";
import { SourceIndexWriter } from "../source-index/index-writer.ts";
import type { SourceRecord } from "../state.ts";
import type { SourceResult } from "../source-result.ts";
import { TreeWalk } from "../tree-walk.ts";
import { ChunkChoice } from "./chunk-choice.ts";
import { sendChunks } from "./chunk-sender.ts";
import { commitArchive } from "./commit.ts";
import { PageBuilder } from "./page-builder.ts";
import { offerPage } from "./page-offer.ts";
import { PagePipeline } from "./page-pipeline.ts";
import { ProofAnswers } from "./proof-answers.ts";
import { ReplyOrder } from "./reply-order.ts";
import { DeltaBatcher } from "./delta-batcher.ts";
import { OpeningSession } from "./opening-session.ts";
import { WholeChunks } from "./whole-chunks.ts";
import { ChunkStreamWriter } from "../../io/chunk-stream.ts";
import { fingerprintOf, type SourceHistory } from "./source-offer.ts";
import type { UploadContext } from "./upload-context.ts";
import type { UploadTally } from "./upload-tally.ts";

/**
 * Uploads the source after the server's `send-manifest` (`baseAccepted`: it answered `base: true`) and
 * returns its result once the receipt is checked and recorded. The source is walked again, entry by
 * entry, straight into the archive builder (no list of entries is held); the archive, its new source
 * index and the fingerprint recorded with it all come from this walk. `opened`: started before the
 * answer, taking `baseAccepted` for granted; nothing is sent before `opened` settles, and its rejection
 * stops the upload. `session` may still be opening (the tick's first source, read during the handshake).
 * Throws whatever failed: the session is then in the middle of an upload (unless `opened` rejected), and
 * the new source index is gone.
 */
export async function transferArchive(
  session: SecureSession | OpeningSession,
  source: SourceConfig,
  history: SourceHistory,
  baseAccepted: boolean,
  tally: UploadTally,
  ctx: UploadContext,
  opened?: Promise<{ stream?: boolean } | undefined>,
): Promise<SourceResult> {
  const previous = history.index;
  const base = baseAccepted && previous ? { index: previous } : null;
  const index = new SourceIndexWriter(ctx.state.newIndexDir(source.name), previous);
  // Proof answers are made for chunks read now, while their bytes are here (hashrelay verify spends them).
  const proofs = ProofAnswers.open(ctx.state.proofsFile, ctx.log, source.name);
  const workers = new ChunkWorkers(ctx.format, proofs.secret);
  // Version 6 over a slow link: whole chunks as one zstd stream, when the offer's answer grants it (§8.10).
  const wholeChunks = new WholeChunks(session, ctx.wholeChunks);
  let stream: ChunkStreamWriter | null = null;
  const streamOf = () => (stream ??= new ChunkStreamWriter());
  (opened ?? Promise.resolve(undefined)).then(
    (answer) => wholeChunks.answered(answer?.stream === true),
    () => undefined,
  );
  let committing = false;
  try {
    const at = await archiveTime(source.name, history.previous, ctx);
    const file = archiveFileName(source.name, at, ctx.format);
    const replies = new ReplyOrder(session, opened);
    // Version 3: each page's deltas are cut finer with the base's sub-block hashes (PROTOCOL.md §8.8) and
    // may travel batched (§8.9).
    const v3 = session.version >= 3 && base !== null;
    const choice = new ChunkChoice(base, previous, workers, proofs, v3 ? replies : null, wholeChunks);
    const batcher = v3 ? new DeltaBatcher(session, tally, (id) => base.index.positionOf(id), session.version >= 4) : null;
    const pipeline = new PagePipeline(
      {
        offer: (page) => offerPage(replies, page, base, session.version >= 4),
        prepare: (page, needed) => choice.outcomesOf(page, needed),
        send: (outcomes) => sendChunks(session, outcomes, index, tally, batcher, streamOf),
      },
      session.version >= PIPELINED_VERSION,
    );
    const walk = await TreeWalk.open(source.path, source.exclude);
    // Unchanged stretches are taken from the last archive unread only when the server holds it as the base.
    const summary = await buildPages(walk, base ? previous!.previousStream() : undefined, index, choice, pipeline, tally, opened);
    for (const warning of summary.warnings) ctx.log.log("warn", warning, { name: source.name });
    // The offer's walk stopped at the first change and told only what it had seen: this walk tells the rest.
    if (history.fingerprint === null)
      for (const skipped of walk.skipped.slice(history.skippedTold)) ctx.log.log("warn", `skipped ${skipped}`, { name: source.name });
    tally.chunksTotal = summary.chunks;
    const fingerprint = fingerprintOf(walk.digest(), source, ctx.format);
    await opened; // a source of no chunk sent no page: its commit waits here
    committing = true;
    const open = session instanceof OpeningSession ? await session.open : session;
    return await commitArchive(open, { name: source.name, file, at, summary, index, fingerprint }, history, proofs, tally, ctx);
  } finally {
    if (!committing) index.abandon();
    (stream as ChunkStreamWriter | null)?.close();
    workers.close();
    proofs.close();
  }
}

/**
 * Builds the archive chunk by chunk into pages and hands each full page to the pipeline; returns once every chunk
 * is out. Stops at the next chunk once `opened` rejected.
 */
async function buildPages(
  walk: TreeWalk,
  previous: PreviousStream | undefined,
  index: SourceIndexWriter,
  choice: ChunkChoice,
  pipeline: PagePipeline,
  tally: UploadTally,
  opened: Promise<unknown> | undefined,
): Promise<ArchiveSummary> {
  let refused: { reason: unknown } | null = null;
  opened?.catch((reason: unknown) => (refused = { reason }));
  const pages = new PageBuilder();
  const summary = await buildArchive(walk, {
    compress: false,
    keyOf: (entry) => walk.keyOf(entry),
    previous,
    onSegment: (segment) => index.addSegment(segment),
    onChunk: async (chunk) => {
      if (refused) throw refused.reason;
      const { kept, bytes } = choice.atCut(chunk);
      const full = pages.add({ id: chunk.id, rawLength: chunk.rawLength }, kept, bytes, chunk.reused === null);
      tally.hashed(chunk.rawLength);
      if (full) await pipeline.offer(full);
    },
  });
  const last = pages.last();
  if (last) await pipeline.offer(last);
  await pipeline.finish();
  return summary;
}

/** The time the new archive is named after: NOW has one-second resolution, so never the name the source's last archive has. */
async function archiveTime(name: string, previous: SourceRecord | null, ctx: UploadContext): Promise<Date> {
  const at = ctx.now();
  if (!previous || archiveFileName(name, at, ctx.format) !== previous.file) return at;
  await new Promise((resolve) => setTimeout(resolve, 1001 - at.getUTCMilliseconds()));
  return ctx.now();
}
