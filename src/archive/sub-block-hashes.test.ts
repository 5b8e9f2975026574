// Sub-block hashes: the rolling half rolls to what it computes directly, and the request's limits come before its answer.
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { MAX_SUB_HASHES, SUB_BLOCK } from "../protocol/constants.ts";
import { answerHashRequest, decodeHashRequest, decodeSubHashes, encodeHashRequest, rollWeak, weakHashAt } from "./sub-block-hashes.ts";

const random = Uint8Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24);

describe("sub-block hashes", () => {
  test("a request's ranges travel as varint differences and come back as they were", () => {
    const ranges = [
      { baseIndex: 7, offset: 5000, count: 15 },
      { baseIndex: 7, offset: 5936, count: 16 },
      { baseIndex: 3, offset: 0, count: 1 },
    ];
    const body = encodeHashRequest(2, ranges);
    // 8 header bytes, then a few bytes a range
    expect(body.length).toBeLessThan(8 + 3 * 6);
    expect(decodeHashRequest(body, () => 65_536)).toEqual({ firstIndex: 2, ranges, hashes: 32 });
    expect(() => decodeHashRequest(new Uint8Array([...body, 0]), () => 65_536)).toThrow(expect.objectContaining({ code: "BAD_FRAME" }));
  });

  test("rolling the weak hash one byte at a time gives the hash of each window", () => {
    let weak = weakHashAt(random, 0);
    for (let at = 1; at + SUB_BLOCK <= random.length; at++) {
      weak = rollWeak(weak, random[at - 1]!, random[at + SUB_BLOCK - 1]!);
      expect(weak).toBe(weakHashAt(random, at));
    }
  });

  test("an answer is the weak hash and SHA-256's first four bytes of each sub-block, in request order", () => {
    const ranges = [
      { baseIndex: 0, offset: 128, count: 2 },
      { baseIndex: 0, offset: 1, count: 1 },
    ];
    const body = encodeHashRequest(5, ranges);
    const request = decodeHashRequest(body, () => random.length);
    expect(request).toEqual({ firstIndex: 5, ranges, hashes: 3 });
    const hashes = decodeSubHashes(
      answerHashRequest(5, request.ranges, 3, () => random),
      5,
      3,
    );
    const sha = (at: number) =>
      createHash("sha256")
        .update(random.subarray(at, at + SUB_BLOCK))
        .digest()
        .readUInt32BE(0);
    expect([0, 1, 2].map((k) => [hashes.getUint32(8 * k), hashes.getUint32(8 * k + 4)])).toEqual(
      [128, 192, 1].map((at) => [weakHashAt(random, at), sha(at)]),
    );
    // a chunk the server cannot read: zeros
    expect([...new Uint8Array(answerHashRequest(5, request.ranges, 3, () => null))].slice(4).every((b) => b === 0)).toBe(true);
    expect(() => decodeSubHashes(new Uint8Array(4 + 16), 5, 3)).toThrow();
  });

  test("the hash count is checked against MAX_SUB_HASHES before the range is looked at", () => {
    const body = encodeHashRequest(0, [{ baseIndex: 9, offset: 0, count: MAX_SUB_HASHES + 1 }]);
    let looked = 0;
    expect(() =>
      decodeHashRequest(body, () => {
        looked++;
        return undefined;
      }),
    ).toThrow(expect.objectContaining({ code: "TOO_LARGE" }));
    expect(looked).toBe(0);
  });
});
