// Worker thread: compresses chunks into gzip members and cuts them into blocks, off the main thread.
import { blocksOf } from "../archive/chunk-delta.ts";
import { encodeGzipMember } from "../archive/gzip-member.ts";
import { encodeZstdMember } from "../archive/zstd-member.ts";
import { blockKey } from "./block-key.ts";
import { deflateRaw, zstdFrame } from "./compress.ts";

export interface ChunkJob {
  job: number;
  raw: Uint8Array;
  id: Uint8Array;
  compress: boolean;
  format: "tar.gz" | "tar.zst";
}

export interface ChunkJobResult {
  job: number;
  member: Uint8Array | null;
  lengths: number[];
  keys: number[];
}

declare const self: Worker;

self.onmessage = (event: MessageEvent<ChunkJob>) => {
  const { job, raw, id, compress, format } = event.data;
  const blocks = blocksOf(id, raw, blockKey);
  const member = !compress ? null : format === "tar.zst" ? encodeZstdMember(raw, zstdFrame) : encodeGzipMember(raw, deflateRaw);
  const result: ChunkJobResult = { job, member, lengths: blocks.lengths, keys: blocks.keys };
  self.postMessage(result, member ? [member.buffer as ArrayBuffer] : []);
};
