// Backs up one source on an open session: walk → offer → (transfer: pages, chunks, commit) → result.
import { asHashRelayError } from "../../errors.ts";
import type { SourceConfig } from "../../config/parse-config.ts";
import type { SecureSession } from "../../session/secure-session.ts";
import type { SourceResult } from "../source-result.ts";
import { walkSource, type WalkResult } from "../offer-walk.ts";
import { checkReceipt } from "./receipt.ts";
import { serverRefusal } from "./server-refusal.ts";
import { lastWalkOf, offerSource, sourceHistory, type SourceHistory } from "./source-offer.ts";
import { SessionSpoiled, type UploadContext } from "./upload-context.ts";
import { UploadTally } from "./upload-tally.ts";

/**
 * Walks `source` for its offer, stopping at the first entry that changed since its last archive
 * (tree-walk.ts walkSource): the upload walks it again anyway.
 */
export async function walkFor(source: SourceConfig, ctx: Pick<UploadContext, "state" | "format">): Promise<WalkResult> {
  return walkSource(source.path, source.exclude, lastWalkOf(source, ctx) ?? undefined);
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
  let tally = new UploadTally(source.name, ctx.onProgress);
  let walked;
  try {
    walked = await (walking ?? walkFor(source, ctx));
  } catch (err) {
    return tally.result("failed", null, { error: asHashRelayError(err, "SOURCE").describe() });
  }
  for (const skipped of walked.skipped) ctx.log.log("warn", `skipped ${skipped}`, { name: source.name });
  tally.walked(walked.tarBytes);
  const history = sourceHistory(walked, source, ctx);

  let inTransfer = false;
  let early: EarlyTransfer | null = null;
  try {
    const answering = offerSource(session, source.name, history, ctx.format, ctx.closingPing);
    // A source that changed is read while its offer is answered (a round trip on a WAN), as if its base were
    // taken; nothing goes out before the answer, and an answer that does not take the base reads it again.
    if (!history.claimed) early = await startEarly(session, source, history, answering, tally, ctx);
    const answer = await answering;
    if (answer.type === "have") {
      const receipt = await checkReceipt(answer.receipt, session.clientName, source.name, history.claimed, ctx);
      const chunksTotal = history.previous?.chunks ?? 0;
      return tally.result("unchanged", receipt.file, { chunksTotal, ...(answer.held ? { held: answer.held } : {}) });
    }
    if (answer.damaged) {
      // PROTOCOL.md §10 step 3: the server found the archive this walk matches damaged; the upload repairs it
      ctx.log.log("warn", `the server holds ${answer.damaged} of ${source.name} damaged: sending it again`, { name: source.name });
    }
    inTransfer = true;
    const baseAccepted = answer.base === true;
    if (early?.baseAccepted === baseAccepted) return await early.result;
    await early?.stopped;
    tally = new UploadTally(source.name, ctx.onProgress);
    tally.walked(walked.tarBytes);
    const { transferArchive } = await import("./transfer.ts");
    return await transferArchive(session, source, history, baseAccepted, tally, ctx);
  } catch (err) {
    const error = await serverRefusal(session, asHashRelayError(err));
    // A delta the server could not apply (a base chunk gone, a block key collision), or a base chunk it no
    // longer holds: next time, read everything and send whole chunks.
    if ((tally.usedDeltas && error.code === "HASH_MISMATCH") || error.code === "STORAGE") ctx.state.dropBlocks(source.name);
    const failed = tally.result("failed", null, { error: error.describe() });
    // Mid-transfer the server holds a half upload: the session cannot carry the next source.
    if (inTransfer || error.code !== "SOURCE") throw new SessionSpoiled(failed, inTransfer && error.code === "HASH_MISMATCH");
    return failed;
  } finally {
    await early?.stopped;
    history.index?.close();
  }
}

/** An upload started before its offer was answered, on the base the offer named (if any). */
interface EarlyTransfer {
  baseAccepted: boolean;
  result: Promise<SourceResult>;
  /** Settles once the upload is over, whichever way (its index, workers and proof file closed). */
  stopped: Promise<unknown>;
}

/**
 * Starts the upload of `source` while `answering` is on its way, taking the base the offer named as accepted.
 * It sends nothing before the answer, and stops when the answer is not `send-manifest` with that base.
 */
async function startEarly(
  session: SecureSession,
  source: SourceConfig,
  history: SourceHistory,
  answering: Promise<{ type: string; base?: boolean }>,
  tally: UploadTally,
  ctx: UploadContext,
): Promise<EarlyTransfer> {
  const baseAccepted = history.index !== null;
  const opened = answering.then((answer) => {
    if (answer.type !== "send-manifest" || (answer.base === true) !== baseAccepted) throw new Error("offer answered otherwise");
  });
  opened.catch(() => undefined); // the answer itself is awaited, and its failure reported, by the caller
  // Loaded only when something is to be read: an unchanged source never evaluates zlib or sqlite (~7 MiB).
  const { transferArchive } = await import("./transfer.ts");
  const result = transferArchive(session, source, history, baseAccepted, tally, ctx, opened);
  const stopped = result.catch(() => undefined);
  return { baseAccepted, result, stopped };
}
