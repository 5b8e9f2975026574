// The offer stage: what the client claims of a source's last backup, and the server's answer (have, or send the manifest).
import { IDLE_TIMEOUT_MS } from "../../protocol/constants.ts";
import { archiveIdOf } from "../../archive/manifest.ts";
import { BlockIndex, decodeBlockIndex } from "../../archive/chunk-delta.ts";
import type { ArchiveFormat } from "../../archive/naming.ts";
import type { SourceConfig } from "../../config/parse-config.ts";
import type { SecureSession } from "../../session/secure-session.ts";
import type { SourceRecord } from "../state.ts";
import { fingerprintEntries, type WalkResult } from "../tree-walk.ts";
import type { UploadContext } from "./upload-context.ts";

/** Bumped when the tar layout changes, so fingerprints from an older layout never match (the member format is added per source). */
const ARCHIVE_LAYOUT = "tar/1";

/** What the client knows of a source's last backup, and what it may claim or offer as a base. */
export interface SourceHistory {
  /** The walk's fingerprint (recorded with the new archive). */
  fingerprint: string;
  /** The record of the last successful backup, if any. */
  previous: SourceRecord | null;
  /** The last archive's id, when the walk saw no change since: the server may answer `have`. */
  claimed: string | undefined;
  /** The last archive's block index, offered as a base: only when the source changed, in the same format, intact. */
  blockIndex: BlockIndex | null;
}

/** Reads the source's history from the client's state and fingerprints the walk. */
export function sourceHistory(walked: WalkResult, source: SourceConfig, ctx: UploadContext): SourceHistory {
  const fingerprint = fingerprintEntries(walked.store, `${ARCHIVE_LAYOUT}|${ctx.format}|${source.name}|${source.exclude.join("\u0000")}`);
  const previous = ctx.state.source(source.name);
  const claimed = previous && previous.fingerprint === fingerprint ? previous.archiveId : undefined;
  // The last archive is a base only in the same format: the server deduplicates per format.
  const blockIndex = claimed || !previous?.file.endsWith(`.${ctx.format}`) ? null : loadBlockIndex(ctx, previous);
  return { fingerprint, previous, claimed, blockIndex };
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

/** Offers the source (claiming its last archive, or naming it as a base) and returns the server's `have` or `send-manifest`. */
export async function offerSource(session: SecureSession, name: string, history: SourceHistory, format: ArchiveFormat) {
  await session.sendControl({
    type: "offer",
    name,
    ...(history.claimed ? { archiveId: history.claimed } : {}),
    ...(history.blockIndex ? { base: history.previous!.archiveId } : {}),
    ...(format !== "tar.gz" ? { format } : {}),
  });
  return session.expect(["have", "send-manifest"], IDLE_TIMEOUT_MS);
}
