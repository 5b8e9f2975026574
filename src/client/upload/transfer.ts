// The transfer stage, from `send-manifest` to the receipt: build the archive into pages, send what the server lacks, commit.
import { archiveFileName } from "../../archive/naming.ts";
import { BaseManifest } from "../../archive/manifest-diff.ts";
import type { ChunkBlocks } from "../../archive/chunk-delta.ts";
import type { SourceConfig } from "../../config/parse-config.ts";
import { ChunkWorkers } from "../chunk-workers.ts";
import type { SecureSession } from "../../session/secure-session.ts";
import { buildArchive, type ArchiveSummary, type BuildOptions } from "../archive-builder.ts";
import type { SourceRecord } from "../state.ts";
import type { SourceResult } from "../source-result.ts";
import type { WalkResult } from "../tree-walk.ts";
import { metadataFields, type WalkedEntry } from "../walked-entries.ts";
import { ChunkChoice, type AcceptedBase } from "./chunk-choice.ts";
import { sendChunks } from "./chunk-sender.ts";
import { commitArchive } from "./commit.ts";
import { PageBuilder } from "./page-builder.ts";
import { offerPage } from "./page-offer.ts";
import { PagePipeline } from "./page-pipeline.ts";
import { ProofAnswers } from "./proof-answers.ts";
import type { SourceHistory } from "./source-offer.ts";
import type { UploadContext } from "./upload-context.ts";
import type { UploadTally } from "./upload-tally.ts";

/**
 * Uploads the walked source after the server's `send-manifest` (`baseAccepted`: it answered `base:
 * true`) and returns its result once the receipt is checked and recorded. Throws whatever failed: the
 * session is then in the middle of an upload.
 */
export async function transferArchive(
  session: SecureSession,
  source: SourceConfig,
  walked: WalkResult,
  history: SourceHistory,
  baseAccepted: boolean,
  tally: UploadTally,
  ctx: UploadContext,
): Promise<SourceResult> {
  const base =
    baseAccepted && history.blockIndex ? { index: history.blockIndex, manifest: new BaseManifest(history.blockIndex.manifest) } : null;
  // Proof answers are made for chunks read now, while their bytes are here (hashrelay verify spends them).
  const proofs = ProofAnswers.open(ctx.state.proofsFile, ctx.log, source.name);
  const workers = new ChunkWorkers(ctx.format, proofs.secret);
  try {
    const at = await archiveTime(source.name, history.previous, ctx);
    const file = archiveFileName(source.name, at, ctx.format);
    const blocks: ChunkBlocks[] = [];
    const choice = new ChunkChoice(base, history.blockIndex, workers, proofs);
    const pipeline = new PagePipeline({
      offer: (page) => offerPage(session, page, base),
      prepare: (page, needed) => choice.outcomesOf(page, needed),
      send: (outcomes) => sendChunks(session, outcomes, blocks, tally),
    });
    const summary = await buildPages(walked.entries, reusableStream(source.name, history.previous, base, ctx), choice, pipeline, tally);
    for (const warning of summary.warnings) ctx.log.log("warn", warning, { name: source.name });
    tally.chunksTotal = summary.chunks;
    return await commitArchive(session, { name: source.name, file, at, summary, blocks }, history, proofs, tally, ctx);
  } finally {
    workers.close();
    proofs.close();
  }
}

/** Builds the archive chunk by chunk into pages and hands each full page to the pipeline; returns once every chunk is out. */
async function buildPages(
  entries: WalkedEntry[],
  previous: BuildOptions["previous"],
  choice: ChunkChoice,
  pipeline: PagePipeline,
  tally: UploadTally,
): Promise<ArchiveSummary> {
  const pages = new PageBuilder();
  const summary = await buildArchive(entries, {
    compress: false,
    keys: segmentKeys(entries),
    previous,
    onChunk: async (chunk) => {
      const { kept, bytes } = choice.atCut(chunk);
      const full = pages.add({ id: chunk.id, rawLength: chunk.rawLength }, kept, bytes);
      tally.hashed(chunk.rawLength);
      if (full) await pipeline.offer(full);
    },
  });
  const last = pages.last();
  if (last) await pipeline.offer(last);
  await pipeline.finish();
  return summary;
}

/** One key per entry that changes whenever the entry's tar bytes may: what lets the builder take unchanged stretches from the last archive. */
function segmentKeys(entries: readonly WalkedEntry[]): string[] {
  return entries.map((e) => JSON.stringify(metadataFields(e)));
}

/** The last archive's segments and chunks, when the server accepted it as the base and the segments are that archive's. */
function reusableStream(
  name: string,
  previous: SourceRecord | null,
  base: AcceptedBase | null,
  ctx: UploadContext,
): BuildOptions["previous"] {
  const lastSegments = base ? ctx.state.segments(name) : null;
  return lastSegments && lastSegments.archiveId === previous?.archiveId
    ? { segments: lastSegments.segments, chunks: base!.index.manifest }
    : undefined;
}

/** The time the new archive is named after: NOW has one-second resolution, so never the name the source's last archive has. */
async function archiveTime(name: string, previous: SourceRecord | null, ctx: UploadContext): Promise<Date> {
  const at = ctx.now();
  if (!previous || archiveFileName(name, at, ctx.format) !== previous.file) return at;
  await new Promise((resolve) => setTimeout(resolve, 1001 - at.getUTCMilliseconds()));
  return ctx.now();
}
