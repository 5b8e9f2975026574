// Puts one page's chunk frames on the wire in index order, and records each chunk's blocks in the new source index.
import { HashRelayError } from "../../errors.ts";
import type { ChunkStreamWriter } from "../../io/chunk-stream.ts";
import { AEAD_TAG_BYTES, FrameType, MAX_CHUNK_FRAME } from "../../protocol/constants.ts";
import type { FrameSession } from "./opening-session.ts";
import type { SourceIndexWriter } from "../source-index/index-writer.ts";
import type { ChunkOutcome, StreamedChunk } from "./chunk-choice.ts";
import type { DeltaBatcher } from "./delta-batcher.ts";
import type { ChunkFrame, UploadTally } from "./upload-tally.ts";

/**
 * Sends the frames of `outcomes` (one page's, in order) as each settles, recording every chunk's blocks
 * in `index` (the new archive's source index, in archive order) and counting what is sent in `tally`.
 * With `batcher` (version 3), consecutive deltas may go as one DELTA_BATCH; a chunk for the chunk stream
 * goes through the upload's (`streamOf`, made at its first, §8.10). Rethrows the first failed outcome or send.
 */
export async function sendChunks(
  session: FrameSession,
  outcomes: readonly Promise<ChunkOutcome>[],
  index: SourceIndexWriter,
  tally: UploadTally,
  batcher: DeltaBatcher | null = null,
  streamOf: (() => ChunkStreamWriter) | null = null,
): Promise<void> {
  for (const outcome of outcomes) {
    const { blocks, frame, batchable, streamed } = await outcome;
    index.addChunk(blocks);
    if (streamed) {
      await batcher?.flush();
      const sent = await streamedFrame(streamed, streamOf?.() ?? null);
      await session.sendBinary(sent.type, sent.payload);
      tally.sent(sent);
      continue;
    }
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

/** The CHUNK_STREAM frame of `chunk` (§8.10): `u32 index | the stream's bytes for it`; its raw buffer released. */
async function streamedFrame(chunk: StreamedChunk, stream: ChunkStreamWriter | null): Promise<ChunkFrame> {
  if (!stream) throw new HashRelayError("INTERNAL", "a chunk for the chunk stream in an upload without one");
  let bytes: Uint8Array;
  try {
    bytes = await stream.write(chunk.raw);
  } finally {
    chunk.release();
  }
  // zstd adds a few bytes per 128 KiB block to incompressible bytes: far within the frame's 1 KiB margin
  if (4 + bytes.length + AEAD_TAG_BYTES > MAX_CHUNK_FRAME)
    throw new HashRelayError("INTERNAL", `chunk ${chunk.index}: ${bytes.length} stream bytes do not fit a frame`);
  const payload = new Uint8Array(4 + bytes.length);
  new DataView(payload.buffer).setUint32(0, chunk.index);
  payload.set(bytes, 4);
  return { type: FrameType.SEALED_CHUNK_STREAM, payload, bytes: bytes.length };
}
