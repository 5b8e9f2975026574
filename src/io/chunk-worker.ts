// Worker thread: compresses chunks into gzip members, cuts them into blocks and makes their proof answers, off the main thread.
import { blocksOf } from "../archive/chunk-delta.ts";
import { encodeGzipMember } from "../archive/gzip-member.ts";
import { encodeZstdMember } from "../archive/zstd-member.ts";
import { PROOF_ROUNDS } from "../protocol/constants.ts";
import { proofTokens } from "../protocol/proof.ts";
import { blockKey } from "./block-key.ts";
import { deflateRaw, zstdFrame } from "./compress.ts";

export interface ChunkJob {
  job: number;
  raw: Uint8Array;
  id: Uint8Array;
  compress: boolean;
  format: "tar.gz" | "tar.zst";
  /** Make PROOF_ROUNDS answers from round `first` with the client's proof secret. */
  proof: { secret: Uint8Array; first: number } | null;
}

export interface ChunkJobResult {
  job: number;
  member: Uint8Array | null;
  lengths: number[];
  keys: number[];
  tokens: Uint8Array | null;
}

declare const self: Worker;

self.onmessage = (event: MessageEvent<ChunkJob>) => {
  const { job, raw, id, compress, format, proof } = event.data;
  const blocks = blocksOf(id, raw, blockKey);
  const member = !compress ? null : format === "tar.zst" ? encodeZstdMember(raw, zstdFrame) : encodeGzipMember(raw, deflateRaw);
  const tokens = proof ? proofTokens(proof.secret, id, raw, proof.first, PROOF_ROUNDS) : null;
  const result: ChunkJobResult = { job, member, lengths: blocks.lengths, keys: blocks.keys, tokens };
  self.postMessage(result, member ? [member.buffer as ArrayBuffer] : []);
};
