import { expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { gunzipSync } from "node:zlib";
import { blockKey } from "../io/block-key.ts";
import { deflateOrStore, deflateRaw, zstdFrame } from "../io/compress.ts";
import { encodeChunkPayload } from "../protocol/binary-frames.ts";
import { payloadRoom, runChunkJob, transferablesOf, type ChunkJob } from "./chunk-job.ts";
import { encodeGzipMember } from "./gzip-member.ts";
import type { ArchiveFormat } from "./naming.ts";
import { encodeZstdMember } from "./zstd-member.ts";

// Pure, in memory: a dozen chunks of at most 256 KiB, a few ms.

const codecs = { deflateOrStore, zstdFrame, blockKey };
const text = (n: number) => new TextEncoder().encode("a line of text that compresses\n".repeat(Math.ceil(n / 31)).slice(0, n));

/** A job for `raw` copied to the start of a buffer of `room` bytes. */
function jobIn(raw: Uint8Array, room: number, format: ArchiveFormat = "tar.gz"): ChunkJob {
  const own = new Uint8Array(new ArrayBuffer(room), 0, raw.length);
  own.set(raw);
  const id = new Uint8Array(createHash("sha256").update(raw).digest());
  return { job: 1, raw: own, id, compressAs: 7, format, proof: null, blocks: true };
}

const kinds: [string, Uint8Array<ArrayBufferLike>][] = [
  ["compressible text", text(100 * 1024)],
  ["a short text", text(100)],
  ["random bytes in one stored block", randomBytes(40 * 1024)],
  ["random bytes in two stored blocks", randomBytes(70_000)],
  ["random bytes of the largest chunk (five stored blocks)", randomBytes(256 * 1024)],
  ["random bytes too short to sample (deflated, then stored as shorter)", randomBytes(5000)],
];

for (const [kind, raw] of kinds) {
  test(`${kind}: the payload written over the chunk's own buffer is encodeChunkPayload's, also in a buffer of the chunk's length (in place when it fits)`, () => {
    const expected = encodeChunkPayload({ index: 7, member: encodeGzipMember(raw, deflateRaw) });
    expect(new Uint8Array(gunzipSync(expected.subarray(4))) as Uint8Array<ArrayBufferLike>).toEqual(raw);
    const inPlace = jobIn(raw, payloadRoom(raw.length));
    const result = runChunkJob(inPlace, codecs);
    expect(result.payload!.buffer).toBe(inPlace.raw.buffer);
    expect(result.payload).toEqual(expected);
    const fresh = jobIn(raw, raw.length);
    const apart = runChunkJob(fresh, codecs);
    if (expected.length > raw.length) expect(apart.payload!.buffer).not.toBe(fresh.raw.buffer);
    else expect(apart.payload!.buffer).toBe(fresh.raw.buffer);
    expect(apart.payload).toEqual(expected);
    expect(result.keys).toEqual(apart.keys);
    expect(result.lengths).toEqual(apart.lengths);
  });
}

test("a zstd chunk's payload is the same in place and apart", () => {
  const raw = text(80 * 1024);
  const expected = encodeChunkPayload({ index: 7, member: encodeZstdMember(raw, zstdFrame) });
  expect(runChunkJob(jobIn(raw, payloadRoom(raw.length), "tar.zst"), codecs).payload).toEqual(expected);
  expect(runChunkJob(jobIn(raw, raw.length, "tar.zst"), codecs).payload).toEqual(expected);
});

test("proof answers and blocks are made from the chunk's bytes before the payload is written over them", () => {
  const raw = randomBytes(100 * 1024);
  const withProof = (room: number) => ({ ...jobIn(raw, room), proof: { secret: new Uint8Array(32).fill(3), first: 0 } });
  const inPlace = runChunkJob(withProof(payloadRoom(raw.length)), codecs);
  const apart = runChunkJob(withProof(raw.length), codecs);
  expect(inPlace.tokens).toEqual(apart.tokens);
  expect(inPlace.keys).toEqual(apart.keys);
});

test("a payload in the chunk's buffer is transferred once (a buffer listed twice cannot be)", () => {
  const raw = text(50 * 1024);
  const result = runChunkJob(jobIn(raw, payloadRoom(raw.length)), codecs);
  const buffers = transferablesOf(result);
  expect(new Set(buffers).size).toBe(buffers.length);
  expect(buffers).toContain(result.raw.buffer as ArrayBuffer);
  const apart = runChunkJob(jobIn(raw, raw.length), codecs);
  expect(transferablesOf(apart)).toContain(apart.payload!.buffer as ArrayBuffer);
});
