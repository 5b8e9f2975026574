// The work a worker thread does on one chunk: its member, its blocks, its proof answers (pure: codecs are given).
import { encodeChunkPayload } from "../protocol/binary-frames.ts";
import { PROOF_ROUNDS } from "../protocol/constants.ts";
import { proofTokens } from "../protocol/proof.ts";
import { blocksOf, type BlockKeyOf } from "./chunk-delta.ts";
import { encodeGzipMember } from "./gzip-member.ts";
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
  /** The chunk frame payload, `u32 index | member` (protocol/binary-frames.ts), when compressAs was set. */
  payload: Uint8Array | null;
  lengths: Uint16Array;
  keys: Float64Array;
  tokens: Uint8Array | null;
  /** The job's `raw`, handed back (transferred) so that the caller can fill its buffer with a later chunk. */
  raw: Uint8Array;
}

/** The codecs a job uses: raw deflate, one zstd frame, the block key (native code, given by the worker). */
export interface ChunkCodecs {
  deflateRaw: (raw: Uint8Array) => Uint8Array;
  zstdFrame: (raw: Uint8Array) => Uint8Array;
  blockKey: BlockKeyOf;
}

/** Does `job` with `codecs`; the result's buffers are fresh (the worker transfers them back). */
export function runChunkJob(job: ChunkJob, codecs: ChunkCodecs): ChunkJobResult {
  const { raw, id, compressAs, format, proof } = job;
  const blocks = job.blocks ? blocksOf(id, raw, codecs.blockKey) : { lengths: new Uint16Array(0), keys: new Float64Array(0) };
  const member =
    compressAs === null ? null : format === "tar.zst" ? encodeZstdMember(raw, codecs.zstdFrame) : encodeGzipMember(raw, codecs.deflateRaw);
  const payload = member && encodeChunkPayload({ index: compressAs!, member });
  const tokens = proof ? proofTokens(proof.secret, id, raw, proof.first, PROOF_ROUNDS) : null;
  return { job: job.job, payload, lengths: blocks.lengths, keys: blocks.keys, tokens, raw };
}

/** The buffers of `result` to transfer back to the main thread. */
export function transferablesOf(result: ChunkJobResult): ArrayBuffer[] {
  const buffers = [result.lengths.buffer, result.keys.buffer, result.raw.buffer] as ArrayBuffer[];
  return result.payload ? [...buffers, result.payload.buffer as ArrayBuffer] : buffers;
}
