// The offer stage: what the client claims of a source's last backup, and the server's answer (have, or send the manifest).
import { IDLE_TIMEOUT_MS } from "../../protocol/constants.ts";
import type { ArchiveFormat } from "../../archive/naming.ts";
import type { SourceConfig } from "../../config/parse-config.ts";
import type { SecureSession } from "../../session/secure-session.ts";
import { SourceIndex } from "../source-index/source-index.ts";
import type { SourceRecord } from "../state.ts";
import type { LastWalk, WalkResult } from "../offer-walk.ts";
import type { ClosingPing, UploadContext } from "./upload-context.ts";

/** Bumped when the tar layout changes, so fingerprints from an older layout never match (the member format is added per source). */
const ARCHIVE_LAYOUT = "tar/1";

/** What the client knows of a source's last backup, and what it may claim or offer as a base. */
export interface SourceHistory {
  /** The walk's fingerprint; null when the walk stopped at a change (nothing to claim). */
  fingerprint: string | null;
  /** How many skipped entries the walk found (and the caller logged). */
  skippedTold: number;
  /** The record of the last successful backup, if any. */
  previous: SourceRecord | null;
  /** The last archive's id, when the walk saw no change since: the server may answer `have`. */
  claimed: string | undefined;
  /**
   * The last archive's source index, offered as a base: only when the source changed, in the same
   * format, intact. Open: whoever takes the history closes it.
   */
  index: SourceIndex | null;
}

/**
 * A source's fingerprint: SHA-256 over the layout, the format, the name and the excludes (whatever
 * else shapes the archive) and the walk's digest of its entries. Equal fingerprints: nothing changed.
 */
export function fingerprintOf(digest: string, source: SourceConfig, format: ArchiveFormat): string {
  const extra = `${ARCHIVE_LAYOUT}|${format}|${source.name}|${source.exclude.join("\u0000")}`;
  return new Bun.CryptoHasher("sha256").update(`${JSON.stringify(extra)}\n${digest}`).digest("hex");
}

/** Reads the source's history from the client's state and fingerprints the walk. */
export function sourceHistory(walked: WalkResult, source: SourceConfig, ctx: UploadContext): SourceHistory {
  const fingerprint = walked.digest === null ? null : fingerprintOf(walked.digest, source, ctx.format);
  const previous = ctx.state.source(source.name);
  const claimed = previous && previous.fingerprint === fingerprint ? previous.archiveId : undefined;
  // The last archive is a base only in the same format: the server deduplicates per format.
  const sameFormat = previous?.file.endsWith(`.${ctx.format}`);
  const dir = previous && !claimed && sameFormat ? ctx.state.indexDir(previous) : null;
  const index = dir ? SourceIndex.open(dir, previous!.archiveId) : null;
  return { fingerprint, skippedTold: walked.skipped.length, previous, claimed, index };
}

/**
 * The last archive of `source`, for its walk to stop at the first entry that changed (tree-walk.ts):
 * its source index when the state has it intact and in this format, else null (the walk goes on to
 * the end). The walk closes it.
 */
export function lastWalkOf(source: SourceConfig, ctx: Pick<UploadContext, "state" | "format">): LastWalk | null {
  const previous = ctx.state.source(source.name);
  const dir = previous?.file.endsWith(`.${ctx.format}`) ? ctx.state.indexDir(previous) : null;
  let index: SourceIndex | null = null;
  try {
    index = dir ? SourceIndex.open(dir, previous!.archiveId) : null;
  } catch {
    // unreadable: the walk goes to the end, and the upload finds out what it can use
  }
  if (!index) return null;
  const opened = index;
  return { segments: opened.previousStream().segments, streamBytes: opened.streamBytes, close: () => opened.close() };
}

/**
 * Offers the source (claiming its last archive, or naming it as a base) and returns the server's `have` or
 * `send-manifest`. A claim of the tick's last source carries the closing ping behind it (`closingPing`,
 * PROTOCOL.md §10 step 3): its pong is left for the tick after `have`, read here after `send-manifest`.
 */
export async function offerSource(
  session: SecureSession,
  name: string,
  history: SourceHistory,
  format: ArchiveFormat,
  closingPing?: ClosingPing,
) {
  const offered = performance.now();
  await session.sendControl({
    type: "offer",
    name,
    ...(history.claimed ? { archiveId: history.claimed } : {}),
    ...(history.index ? { base: history.previous!.archiveId } : {}),
    ...(format !== "tar.gz" ? { format } : {}),
  });
  const behind = history.claimed ? closingPing : undefined;
  await behind?.sendBehind(session);
  const answer = await session.expect(["have", "send-manifest"], IDLE_TIMEOUT_MS);
  // a third timing of the link (whole-chunks.ts): the offer's work on the server is a few index lookups
  session.timedRoundTrip(performance.now() - offered);
  if (answer.type === "send-manifest") await behind?.readNow(session);
  return answer;
}
