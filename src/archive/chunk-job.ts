// The work a worker thread does on one chunk: its member, its blocks, its proof answers (pure: codecs are given).
import { checkChunkPayload } from "../protocol/binary-frames.ts";
import { PROOF_ROUNDS } from "../protocol/constants.ts";
import { proofTokens } from "../protocol/proof.ts";
import { blocksOf, type BlockKeyOf } from "./chunk-delta.ts";
import { gzipMemberLength, writeGzipMember } from "./gzip-member.ts";
import type { ArchiveFormat } from "./naming.ts";
import { encodeZstdMember } from "./zstd-member.ts";

export interface ChunkJob {
  job: number;
  raw: Uint8Array;
  id: Uint8Array;
  /** Position of the chunk in the archive when it must be compressed (its chunk frame payload is made); null: no compression. */
  compressAs: number | null;
  format: ArchiveFormat;
  /** Make PROOF_ROUNDS answers from round `first` with the client's proof secret. */
  proof: { secret: Uint8Array; first: number } | null;
  /** Cut the chunk into blocks (the client's block index); the server only compresses. */
  blocks: boolean;
}

export interface ChunkJobResult {
  job: number;
  /**
   * The chunk frame payload, `u32 index | member` (protocol/binary-frames.ts), when compressAs was set:
   * written over `raw` in raw's own buffer when that has room for it (see payloadRoom), else fresh.
   */
  payload: Uint8Array | null;
  lengths: Uint16Array;
  keys: Float64Array;
  tokens: Uint8Array | null;
  /**
   * The job's `raw`, handed back (transferred) so that the caller can fill its buffer with a later chunk
   * (once done with the payload, when that lives in the same buffer). Its bytes are gone when it holds the payload.
   */
  raw: Uint8Array;
}

/** The codecs a job uses: raw deflate, one zstd frame, the block key (native code, given by the worker). */
export interface ChunkCodecs {
  /** Raw deflate of a chunk, or null when it goes as stored blocks (io/compress.ts deflateOrStore). */
  deflateOrStore: (raw: Uint8Array) => Uint8Array | null;
  zstdFrame: (raw: Uint8Array) => Uint8Array;
  blockKey: BlockKeyOf;
}

/** Does `job` with `codecs`; the result's buffers are fresh (the worker transfers them back), but for a payload written in raw's buffer. */
export function runChunkJob(job: ChunkJob, codecs: ChunkCodecs): ChunkJobResult {
  const { raw, id, compressAs, format, proof } = job;
  const blocks = job.blocks ? blocksOf(id, raw, codecs.blockKey) : { lengths: new Uint16Array(0), keys: new Float64Array(0) };
  // the answers and the blocks first: the payload may be written over raw's bytes
  const tokens = proof ? proofTokens(proof.secret, id, raw, proof.first, PROOF_ROUNDS) : null;
  const payload = compressAs === null ? null : chunkPayload(compressAs, raw, format, codecs);
  return { job: job.job, payload, lengths: blocks.lengths, keys: blocks.keys, tokens, raw };
}

/** Payload bytes after the member: its u32 index. */
const INDEX_BYTES = 4;

/**
 * Bytes a buffer holding a gzip chunk of `rawLength` bytes needs so that its payload (at most stored blocks)
 * is written in it: a chunk copied into such a buffer takes no fresh buffer for its member and payload.
 */
export function payloadRoom(rawLength: number): number {
  return INDEX_BYTES + gzipMemberLength(rawLength, null);
}

/**
 * `u32 index | member of raw` (encodeChunkPayload's bytes), written over `raw` from its start when its
 * buffer has room past it, else into a fresh buffer. A fresh member per chunk and a fresh payload to hold
 * it cost the threads' allocator two buffers per chunk (page faults, frees on the main thread).
 */
function chunkPayload(index: number, raw: Uint8Array, format: ArchiveFormat, codecs: ChunkCodecs): Uint8Array {
  const zstd = format === "tar.zst" ? encodeZstdMember(raw, codecs.zstdFrame) : null;
  const deflated = zstd ? null : codecs.deflateOrStore(raw);
  const length = INDEX_BYTES + (zstd ? zstd.length : gzipMemberLength(raw.length, deflated));
  const inPlace = raw.buffer.byteLength - raw.byteOffset >= length;
  const out = inPlace ? new Uint8Array(raw.buffer, raw.byteOffset, length) : new Uint8Array(length);
  if (zstd) out.set(zstd, INDEX_BYTES);
  else writeGzipMember(raw, deflated, out, INDEX_BYTES);
  checkChunkPayload(index, out.subarray(INDEX_BYTES));
  new DataView(out.buffer, out.byteOffset, INDEX_BYTES).setUint32(0, index, false);
  return out;
}

/** The buffers of `result` to transfer back to the main thread. */
export function transferablesOf(result: ChunkJobResult): ArrayBuffer[] {
  const buffers = [result.lengths.buffer, result.keys.buffer, result.raw.buffer] as ArrayBuffer[];
  // a buffer listed twice cannot be transferred
  return result.payload && result.payload.buffer !== result.raw.buffer ? [...buffers, result.payload.buffer as ArrayBuffer] : buffers;
}
