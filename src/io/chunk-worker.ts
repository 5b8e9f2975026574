// Worker thread: compresses chunks into gzip members, cuts them into blocks and makes their proof answers, off the main thread.
import { blocksOf } from "../archive/chunk-delta.ts";
import { encodeGzipMember } from "../archive/gzip-member.ts";
import { encodeChunkPayload } from "../protocol/binary-frames.ts";
import { encodeZstdMember } from "../archive/zstd-member.ts";
import { PROOF_ROUNDS } from "../protocol/constants.ts";
import { proofTokens } from "../protocol/proof.ts";
import { blockKey } from "./block-key.ts";
import { deflateRaw, zstdFrame } from "./compress.ts";

export interface ChunkJob {
  job: number;
  raw: Uint8Array;
  id: Uint8Array;
  /** Position of the chunk in the archive when it must be compressed (its chunk frame payload is made); null: no compression. */
  compressAs: number | null;
  format: "tar.gz" | "tar.zst";
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
}

declare const self: Worker;

self.onmessage = (event: MessageEvent<ChunkJob>) => {
  const { job, raw, id, compressAs, format, proof } = event.data;
  const blocks = event.data.blocks ? blocksOf(id, raw, blockKey) : { lengths: new Uint16Array(0), keys: new Float64Array(0) };
  const member = compressAs === null ? null : format === "tar.zst" ? encodeZstdMember(raw, zstdFrame) : encodeGzipMember(raw, deflateRaw);
  const payload = member && encodeChunkPayload({ index: compressAs!, member });
  const tokens = proof ? proofTokens(proof.secret, id, raw, proof.first, PROOF_ROUNDS) : null;
  const result: ChunkJobResult = { job, payload, lengths: blocks.lengths, keys: blocks.keys, tokens };
  const transfer = [blocks.lengths.buffer, blocks.keys.buffer] as ArrayBuffer[];
  self.postMessage(result, payload ? [...transfer, payload.buffer as ArrayBuffer] : transfer);
};
