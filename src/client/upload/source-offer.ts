// The offer stage: what the client claims of a source's last backup, and the server's answer (have, or send the manifest).
import { IDLE_TIMEOUT_MS } from "../../protocol/constants.ts";
import type { ArchiveFormat } from "../../archive/naming.ts";
import type { SourceConfig } from "../../config/parse-config.ts";
import type { SecureSession } from "../../session/secure-session.ts";
import { SourceIndex } from "../source-index/source-index.ts";
import type { SourceRecord } from "../state.ts";
import type { WalkResult } from "../tree-walk.ts";
import type { UploadContext } from "./upload-context.ts";

/** Bumped when the tar layout changes, so fingerprints from an older layout never match (the member format is added per source). */
const ARCHIVE_LAYOUT = "tar/1";

/** What the client knows of a source's last backup, and what it may claim or offer as a base. */
export interface SourceHistory {
  /** The walk's fingerprint. */
  fingerprint: string;
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
  const fingerprint = fingerprintOf(walked.digest, source, ctx.format);
  const previous = ctx.state.source(source.name);
  const claimed = previous && previous.fingerprint === fingerprint ? previous.archiveId : undefined;
  // The last archive is a base only in the same format: the server deduplicates per format.
  const sameFormat = previous?.file.endsWith(`.${ctx.format}`);
  const dir = previous && !claimed && sameFormat ? ctx.state.indexDir(previous) : null;
  return { fingerprint, previous, claimed, index: dir ? SourceIndex.open(dir, previous!.archiveId) : null };
}

/** Offers the source (claiming its last archive, or naming it as a base) and returns the server's `have` or `send-manifest`. */
export async function offerSource(session: SecureSession, name: string, history: SourceHistory, format: ArchiveFormat) {
  await session.sendControl({
    type: "offer",
    name,
    ...(history.claimed ? { archiveId: history.claimed } : {}),
    ...(history.index ? { base: history.previous!.archiveId } : {}),
    ...(format !== "tar.gz" ? { format } : {}),
  });
  return session.expect(["have", "send-manifest"], IDLE_TIMEOUT_MS);
}
