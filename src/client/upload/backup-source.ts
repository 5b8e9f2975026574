// Backs up one source on an open session: walk → offer → (transfer: pages, chunks, commit) → result.
import { asHashRelayError } from "../../errors.ts";
import type { SourceConfig } from "../../config/parse-config.ts";
import type { SecureSession } from "../../session/secure-session.ts";
import type { SourceResult } from "../source-result.ts";
import { walkSource, type WalkResult } from "../offer-walk.ts";
import { checkReceipt } from "./receipt.ts";
import { serverRefusal } from "./server-refusal.ts";
import { OpeningSession } from "./opening-session.ts";
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
 * throw SessionSpoiled. `head`: the source begun already (startHead: runTick's first source, walked and
 * read while the handshake was under way); a walk that failed there is reported here, as one here would be.
 */
export async function backupSource(
  session: SecureSession,
  source: SourceConfig,
  ctx: UploadContext,
  head?: Promise<HeadStart>,
): Promise<SourceResult> {
  let started: HeadStart;
  try {
    started = await (head ?? startHead(source, ctx, walkFor(source, ctx), session));
  } catch (err) {
    return new UploadTally(source.name, ctx.onProgress).result("failed", null, { error: asHashRelayError(err, "SOURCE").describe() });
  }
  const { walked, history } = started;
  let tally = started.tally;
  for (const skipped of walked.skipped) ctx.log.log("warn", `skipped ${skipped}`, { name: source.name });

  let inTransfer = false;
  try {
    const answering = offerSource(session, source.name, history, ctx.format, ctx.closingPing);
    started.answer(answering);
    const early = await started.early;
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
    if (early?.baseAccepted === baseAccepted && early.version === session.version) return await early.result;
    await early?.stopped;
    tally = new UploadTally(source.name, ctx.onProgress);
    tally.walked(walked.tarBytes);
    const { transferArchive } = await import("./transfer.ts");
    return await transferArchive(session, source, history, baseAccepted, tally, ctx, Promise.resolve(answer));
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
    await started.close(new Error("the source's backup ended"));
  }
}

/** The offer's answer an upload started before it waits for. */
type OfferAnswer = Awaited<ReturnType<typeof offerSource>>;

/**
 * A source begun before its offer: walked, its history read, and when it changed, its upload under way on
 * the base the offer names (EarlyTransfer). backupSource takes it; whoever does not, closes it.
 */
export interface HeadStart {
  walked: WalkResult;
  history: SourceHistory;
  tally: UploadTally;
  /** The upload started before the answer; null when the walk found no change (the offer claims the last archive). */
  early: Promise<EarlyTransfer | null>;
  /** Hands the offer's answer (or its failure) to the early upload; only the first call counts. */
  answer(answering: Promise<OfferAnswer>): void;
  /**
   * Stops the early upload with `reason` when it was given no answer, waits until it is over, and closes the
   * last archive's index. Never throws; once is enough, more calls do nothing more.
   */
  close(reason: unknown): Promise<void>;
}

/**
 * Walks `source` (`walking`: the walk, started) and, when it changed since its last archive, starts its upload
 * before the offer is answered (startEarly): read and chunked while the offer travels, and for the tick's first
 * source while `session` is still opening (the handshake and the probe: round trips on a WAN). Rejects when the
 * walk fails. The result must be closed (backupSource does).
 */
export async function startHead(
  source: SourceConfig,
  ctx: UploadContext,
  walking: Promise<WalkResult>,
  session: SecureSession | OpeningSession,
): Promise<HeadStart> {
  const walked = await walking;
  const history = sourceHistory(walked, source, ctx);
  const tally = new UploadTally(source.name, ctx.onProgress);
  tally.walked(walked.tarBytes);
  const answer = Promise.withResolvers<OfferAnswer>();
  answer.promise.catch(() => undefined); // the caller awaits the answer itself
  // An upload on a session still opening goes on only if the session speaks the version it took for granted.
  const answering =
    session instanceof OpeningSession
      ? session.open.then((open) => {
          if (!session.matches(open)) throw new Error(`the session speaks version ${open.version}`);
          return answer.promise;
        })
      : answer.promise;
  answering.catch(() => undefined); // a claim's (no early upload) when the session never opens: the tick reports it
  // Not awaited: an offer on an open session goes out before the upload's code is loaded (startEarly).
  const early = history.claimed ? Promise.resolve(null) : startEarly(session, source, history, answering, tally, ctx);
  early.catch(() => undefined); // taken and reported by backupSource
  let closed = false;
  return {
    walked,
    history,
    tally,
    early,
    answer: (given) => answer.resolve(given),
    close: async (reason) => {
      answer.reject(reason);
      await (await early.catch(() => null))?.stopped;
      if (closed) return;
      closed = true;
      history.index?.close();
    },
  };
}

/** An upload started before its offer was answered, on the base the offer named (if any). */
interface EarlyTransfer {
  baseAccepted: boolean;
  /** The protocol version it took for granted. */
  version: number;
  result: Promise<SourceResult>;
  /** Settles once the upload is over, whichever way (its index, workers and proof file closed). */
  stopped: Promise<unknown>;
}

/**
 * Starts the upload of `source` while `answering` is on its way, taking the base the offer named as accepted.
 * It sends nothing before the answer, and stops when the answer is not `send-manifest` with that base.
 */
async function startEarly(
  session: SecureSession | OpeningSession,
  source: SourceConfig,
  history: SourceHistory,
  answering: Promise<{ type: string; base?: boolean; stream?: boolean }>,
  tally: UploadTally,
  ctx: UploadContext,
): Promise<EarlyTransfer> {
  const baseAccepted = history.index !== null;
  const opened = answering.then((answer) => {
    if (answer.type !== "send-manifest" || (answer.base === true) !== baseAccepted) throw new Error("offer answered otherwise");
    return answer;
  });
  opened.catch(() => undefined); // the answer itself is awaited, and its failure reported, by the caller
  // Loaded only when something is to be read: an unchanged source never evaluates zlib or sqlite (~7 MiB).
  const { transferArchive } = await import("./transfer.ts");
  const result = transferArchive(session, source, history, baseAccepted, tally, ctx, opened);
  const stopped = result.catch(() => undefined);
  return { baseAccepted, version: session.version, result, stopped };
}
