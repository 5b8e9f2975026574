import { describe, expect, test } from "bun:test";
import { FrameTally, frameTallyLine, type FrameTypeCount } from "./frame-tally.ts";

/** One frame: u32 BE length (type byte + body) | type | body. */
function frame(type: number, bodyLength: number): Uint8Array {
  const bytes = new Uint8Array(5 + bodyLength);
  new DataView(bytes.buffer).setUint32(0, 1 + bodyLength);
  bytes[4] = type;
  return bytes;
}

describe("frame tally", () => {
  test("counts each frame's wire bytes under its type, however the stream is split", () => {
    const stream = new Uint8Array([...frame(0x01, 102), ...frame(0x11, 1000), ...frame(0x16, 40), ...frame(0x16, 0), ...frame(0x13, 7)]);
    for (const step of [1, 3, 5, 64, stream.length]) {
      const counts: Record<string, FrameTypeCount> = {};
      const tally = new FrameTally(counts);
      for (let at = 0; at < stream.length; at += step) tally.add(stream.subarray(at, at + step));
      expect(counts).toEqual({
        HELLO: { frames: 1, bytes: 107 },
        MANIFEST: { frames: 1, bytes: 1005 },
        CONTEXT_DELTA: { frames: 2, bytes: 50 },
        CHUNK: { frames: 1, bytes: 12 },
      });
    }
  });

  test("prints the types largest first", () => {
    expect(
      frameTallyLine({ NEED: { frames: 2, bytes: 30 }, CHUNK: { frames: 3, bytes: 20_480 }, MANIFEST: { frames: 1, bytes: 41_943_040 } }),
    ).toBe("MANIFEST 1 × 40.0 MiB, CHUNK 3 × 20.0 KiB, NEED 2 × 30 B");
  });
});
