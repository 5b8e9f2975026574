// Offers one manifest page (whole, or as a diff against the accepted base) and reads the server's NEED for it.
import { HashRelayError } from "../../errors.ts";
import { FrameType } from "../../protocol/constants.ts";
import { decodeNeed, encodeManifestPage } from "../../protocol/binary-frames.ts";
import { diffAgainstBase } from "../../archive/manifest-diff.ts";
import { encodeDiffPage } from "../../archive/manifest-diff-page.ts";
import type { AcceptedBase } from "./chunk-choice.ts";
import type { OutgoingPage } from "./page-builder.ts";
import type { ReplyOrder } from "./reply-order.ts";

/**
 * Sends `page` and returns the indexes the server's NEED asks for. `compact` (a version-4 session): the
 * diff's ops in varints, and a chunk that will be described against the base's bytes (ChunkChoice tries
 * a delta for it) goes as a derived entry, without its id (PROTOCOL.md §8.5). Throws BAD_FRAME when the
 * NEED is for another page.
 */
export async function offerPage(replies: ReplyOrder, page: OutgoingPage, base: AcceptedBase | null, compact = false): Promise<Set<number>> {
  const derived = (k: number) => {
    const kept = page.kept[k]!;
    return compact && kept.kind === "raw" && kept.oldSpan !== null;
  };
  const body = base
    ? encodeDiffPage(page.first, page.entries.length, diffAgainstBase(page.entries, base.index.base, derived), compact)
    : encodeManifestPage({ firstIndex: page.first, entries: page.entries });
  const type = base ? FrameType.SEALED_MANIFEST_DIFF : FrameType.SEALED_MANIFEST;
  const need = decodeNeed(await replies.ask(type, body, FrameType.SEALED_NEED));
  if (need.firstIndex !== page.first || need.count !== page.entries.length) {
    throw new HashRelayError(
      "BAD_FRAME",
      `server answered for chunks ${need.firstIndex}+${need.count}, expected ${page.first}+${page.entries.length}`,
    );
  }
  return new Set(need.needed);
}
