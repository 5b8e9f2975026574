// The commit stage: the signed manifest, the server's receipt, then the client's record of the new archive.
import { COMMIT_TIMEOUT_MS } from "../../protocol/constants.ts";
import { signDocument } from "../../protocol/signed-document.ts";
import { basename } from "node:path";
import type { SecureSession } from "../../session/secure-session.ts";
import type { ArchiveSummary } from "../archive-builder.ts";
import { idChanges } from "../../archive/sorted-ids.ts";
import { idsInFolder } from "../source-index/source-index.ts";
import type { SourceIndexWriter } from "../source-index/index-writer.ts";
import type { SourceResult } from "../source-result.ts";
import type { ArchiveChunkIds, ProofAnswers } from "./proof-answers.ts";
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
  await ctx.closingPing?.sendBehind(session);
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
  const sourceIndex = await finished.then(
    () => basename(index.dir),
    (err: Error) => {
      // The archive is stored and receipted: an index that could not be written costs the next backup a full read.
      ctx.log.log("warn", `source index not written: ${err.message}`, { name });
      index.abandon();
      return undefined;
    },
  );
  proofs.record(summary.archiveId, chunkIdsOf(index, summary.archiveId, sourceIndex !== undefined, history), ctx.now().getTime());
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

/**
 * The chunk ids of the new archive `archiveId` for the proof file: what changed since the last archive, read from the
 * two indexes' sorted ids files, when both were written (the records written then follow the change);
 * and all of them, from memory, for when the proof file holds another archive.
 */
function chunkIdsOf(index: SourceIndexWriter, archiveId: string, written: boolean, history: SourceHistory): ArchiveChunkIds {
  const last = history.index;
  const lastId = history.previous?.archiveId;
  const all = () => index.chunkIds();
  if (!written || !last || !lastId) return { all };
  return { all, changesFrom: { archiveId: lastId, changes: () => idChanges(last.distinctIds(), idsInFolder(index.dir, archiveId)) } };
}
