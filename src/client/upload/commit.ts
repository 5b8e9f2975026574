// The commit stage: the signed manifest, the server's receipt, then the client's record of the new archive.
import { COMMIT_TIMEOUT_MS } from "../../protocol/constants.ts";
import { signDocument } from "../../protocol/signed-document.ts";
import { basename } from "node:path";
import type { SecureSession } from "../../session/secure-session.ts";
import type { ArchiveSummary } from "../archive-builder.ts";
import type { SourceIndexWriter } from "../source-index/index-writer.ts";
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
  /** The new archive's source index, every chunk recorded. */
  index: SourceIndexWriter;
  /** The fingerprint of the walk the archive was built from. */
  fingerprint: string;
}

/**
 * Sends `commit` with the signed manifest, waits for the receipt (COMMIT_TIMEOUT_MS: the server
 * assembles and stores the archive meanwhile) and checks it, then records the new archive: proof
 * answers, source record. The new source index is finished (written and fsynced) while the server
 * works; the record names it only once the receipt checked out, and the last archive's index is
 * removed after that. Throws what the server or the receipt check did; the new index is then removed
 * and the last archive's stays in force.
 */
export async function commitArchive(
  session: SecureSession,
  archive: BuiltArchive,
  history: SourceHistory,
  proofs: ProofAnswers,
  tally: UploadTally,
  ctx: UploadContext,
): Promise<SourceResult> {
  const { name, summary, index } = archive;
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
  const finished = index.finish(summary.archiveId);
  finished.catch(() => undefined); // awaited whichever way the commit goes
  let done;
  let receipt;
  try {
    done = await session.expect(["receipt", "have"], COMMIT_TIMEOUT_MS);
    receipt = await checkReceipt(done.receipt, session.clientName, name, summary.archiveId, ctx);
  } catch (err) {
    await finished.catch(() => undefined);
    index.abandon();
    throw err;
  }
  proofs.record(index.chunkIds(), ctx.now().getTime());
  const sourceIndex = await finished.then(
    () => basename(index.dir),
    (err: Error) => {
      // The archive is stored and receipted: an index that could not be written costs the next backup a full read.
      ctx.log.log("warn", `source index not written: ${err.message}`, { name });
      index.abandon();
      return undefined;
    },
  );
  await ctx.state.saveSource({
    name,
    fingerprint: archive.fingerprint,
    archiveId: summary.archiveId,
    file: receipt.file,
    chunks: summary.chunks,
    at: archive.at.toISOString(),
    ...(sourceIndex ? { sourceIndex } : {}),
  });
  ctx.state.pruneIndexes(name, sourceIndex);
  const unchanged = done.type === "have" || (tally.chunksSent === 0 && history.previous?.archiveId === summary.archiveId);
  return tally.result(unchanged ? "unchanged" : "sent", receipt.file, done.held ? { held: done.held } : {});
}
