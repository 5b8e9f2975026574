// Puts one page's chunk frames on the wire in index order, and records each chunk's blocks in the new source index.
import { FrameType } from "../../protocol/constants.ts";
import type { FrameSession } from "./opening-session.ts";
import type { SourceIndexWriter } from "../source-index/index-writer.ts";
import type { ChunkOutcome } from "./chunk-choice.ts";
import type { DeltaBatcher } from "./delta-batcher.ts";
import type { UploadTally } from "./upload-tally.ts";

/**
 * Sends the frames of `outcomes` (one page's, in order) as each settles, recording every chunk's blocks
 * in `index` (the new archive's source index, in archive order) and counting what is sent in `tally`.
 * With `batcher` (version 3), consecutive deltas may go as one DELTA_BATCH. Rethrows the first failed
 * outcome or send.
 */
export async function sendChunks(
  session: FrameSession,
  outcomes: readonly Promise<ChunkOutcome>[],
  index: SourceIndexWriter,
  tally: UploadTally,
  batcher: DeltaBatcher | null = null,
): Promise<void> {
  for (const outcome of outcomes) {
    const { blocks, frame, batchable } = await outcome;
    index.addChunk(blocks);
    if (batcher && batchable) {
      await batcher.add(batchable);
      continue;
    }
    const own = frame ?? batchable?.alone();
    if (!own) continue;
    await batcher?.flush();
    // Marked before the send: a delta that may have reached the server counts.
    if (own.type !== FrameType.SEALED_CHUNK) tally.usedDeltas = true;
    await session.sendBinary(own.type, own.payload);
    tally.sent(own);
    own.release?.();
  }
  await batcher?.flush();
}
