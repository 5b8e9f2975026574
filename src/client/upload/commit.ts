// The commit stage: the signed manifest, the server's receipt, then the client's record of the new archive.
import { COMMIT_TIMEOUT_MS } from "../../protocol/constants.ts";
import { signDocument } from "../../protocol/signed-document.ts";
import { encodeBlockIndex, type ChunkBlocks } from "../../archive/chunk-delta.ts";
import type { SecureSession } from "../../session/secure-session.ts";
import type { ArchiveSummary } from "../archive-builder.ts";
import type { ClientState } from "../state.ts";
import type { SourceResult } from "../source-result.ts";
import type { ProofAnswers } from "./proof-answers.ts";
import { checkReceipt } from "./receipt.ts";
import type { SourceHistory } from "./source-offer.ts";
import type { UploadContext } from "./upload-context.ts";
import type { UploadTally } from "./upload-tally.ts";

/** What one source's transfer leaves to commit. */
export interface BuiltArchive {
  name: string;
  /** The archive's file name, and the time it is named after. */
  file: string;
  at: Date;
  summary: ArchiveSummary;
  /** The new archive's block index, in archive order. */
  blocks: ChunkBlocks[];
}

/**
 * Sends `commit` with the signed manifest, waits for the receipt (COMMIT_TIMEOUT_MS: the server
 * assembles and stores the archive meanwhile) and checks it, then records the new archive: proof
 * answers, block index, segments, source record. Throws what the server or the receipt check did;
 * the last archive's block index and segments then stay in place.
 */
export async function commitArchive(
  session: SecureSession,
  archive: BuiltArchive,
  history: SourceHistory,
  proofs: ProofAnswers,
  tally: UploadTally,
  ctx: UploadContext,
): Promise<SourceResult> {
  const { name, summary } = archive;
  const manifest = signDocument(
    {
      v: 1,
      kind: "manifest",
      client: session.clientName,
      name,
      file: archive.file,
      archiveId: summary.archiveId,
      chunks: summary.chunks,
      rawSize: summary.rawSize,
      createdAt: archive.at.toISOString(),
      configHash: ctx.configHash,
    },
    ctx.identity,
  );
  await session.sendControl({ type: "commit", manifest });
  const indexes = new StagedIndexes(ctx.state, archive);
  let done;
  let receipt;
  try {
    done = await session.expect(["receipt", "have"], COMMIT_TIMEOUT_MS);
    receipt = await checkReceipt(done.receipt, session.clientName, name, summary.archiveId, ctx);
    indexes.keep();
  } catch (err) {
    await indexes.drop();
    throw err;
  }
  proofs.record(
    archive.blocks.map((b) => b.id),
    ctx.now().getTime(),
  );
  await indexes.saved;
  await ctx.state.saveSource({
    name,
    fingerprint: history.fingerprint,
    archiveId: summary.archiveId,
    file: receipt.file,
    chunks: summary.chunks,
    at: archive.at.toISOString(),
  });
  const unchanged = done.type === "have" || (tally.chunksSent === 0 && history.previous?.archiveId === summary.archiveId);
  return tally.result(unchanged ? "unchanged" : "sent", receipt.file, done.held ? { held: done.held } : {});
}

/**
 * The new block index and segments, written and fsynced beside the current ones while the server
 * assembles and stores the archive. They replace them only once the receipt checked out (`keep`); a
 * failed commit (`drop`) leaves the last archive's in place, and no temp file.
 */
class StagedIndexes {
  /** Settles once both files are in place or given up; rejects if writing them failed. */
  readonly saved: Promise<unknown>;
  private settle: (stored: boolean) => void = () => undefined;

  constructor(state: ClientState, archive: BuiltArchive) {
    const stored = new Promise<boolean>((resolve) => (this.settle = resolve));
    this.saved = Promise.all([
      state.saveBlocks(archive.name, encodeBlockIndex(archive.blocks), stored),
      state.saveSegments(archive.name, archive.summary.archiveId, archive.summary.segments, stored),
    ]);
    this.saved.catch(() => undefined); // awaited whichever way the commit goes
  }

  keep(): void {
    this.settle(true);
  }

  /** Gives the files up and waits until they are gone; never throws. */
  async drop(): Promise<void> {
    this.settle(false);
    await this.saved.catch(() => undefined);
  }
}
