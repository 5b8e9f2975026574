import { describe, expect, test } from "bun:test";
import type { BatchedDelta } from "../../archive/delta-batch.ts";
import { FrameType } from "../../protocol/constants.ts";
import type { SecureSession } from "../../session/secure-session.ts";
import type { BatchableDelta } from "./chunk-choice.ts";
import { DeltaBatcher } from "./delta-batcher.ts";
import { UploadTally, type ChunkFrame } from "./upload-tally.ts";

/** A session that records the types of the frames sent. */
function recordingSession(): { session: SecureSession; types: number[] } {
  const types: number[] = [];
  const session = { sendBinary: async (type: number) => void types.push(type) } as unknown as SecureSession;
  return { session, types };
}

/** A delta of chunk `index` (4 KiB of text, its middle 100 bytes literal, the rest copied from base entry 0); `made` counts its own frames made. */
function delta(index: number, made: { count: number }): BatchableDelta {
  const raw = new TextEncoder().encode(`line ${index} of a text file that repeats\n`.repeat(100)).subarray(0, 4096);
  const id = new Uint8Array(32).fill(7);
  const d: BatchedDelta = {
    index,
    raw,
    pieces: [
      { copy: { id, offset: 0, length: 2000 } },
      { literal: { start: 2000, length: 100 } },
      { copy: { id, offset: 2100, length: 1996 } },
    ],
  };
  const frame: ChunkFrame = { type: FrameType.SEALED_CONTEXT_DELTA, payload: new Uint8Array(400), bytes: 396 };
  return { delta: d, alone: () => (made.count++, frame) };
}

/** Hands `count` deltas to a batcher (`withContext`: a version-4 session) and flushes it: the frame types sent and the own frames made. */
async function batch(count: number, withContext: boolean): Promise<{ types: number[]; made: number }> {
  const { session, types } = recordingSession();
  const made = { count: 0 };
  const batcher = new DeltaBatcher(session, new UploadTally("t"), () => 0, withContext);
  for (let i = 0; i < count; i++) await batcher.add(delta(i, made));
  await batcher.flush();
  return { types, made: made.count };
}

describe("DeltaBatcher", () => {
  test("a version-4 batch never makes its chunks' own frames", async () => {
    expect(await batch(5, true)).toEqual({ types: [FrameType.SEALED_DELTA_BATCH], made: 0 });
  });

  test("a version-3 batcher compares the batch with the chunks' own frames", async () => {
    const { types, made } = await batch(5, false);
    expect(types).toEqual([FrameType.SEALED_DELTA_BATCH]);
    expect(made).toBeGreaterThanOrEqual(5);
  });

  test("a single delta travels in its own frame", async () => {
    expect(await batch(1, true)).toEqual({ types: [FrameType.SEALED_CONTEXT_DELTA], made: 1 });
  });
});
