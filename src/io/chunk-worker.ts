// Worker thread: compresses chunks into gzip members and cuts them into blocks, off the main thread.
import { blocksOf } from "../archive/chunk-delta.ts";
import { encodeGzipMember } from "../archive/gzip-member.ts";
import { blockKey } from "./block-key.ts";
import { deflateRaw } from "./compress.ts";

export interface ChunkJob {
  job: number;
  raw: Uint8Array;
  id: Uint8Array;
  compress: boolean;
}

export interface ChunkJobResult {
  job: number;
  member: Uint8Array | null;
  lengths: number[];
  keys: number[];
}

declare const self: Worker;

self.onmessage = (event: MessageEvent<ChunkJob>) => {
  const { job, raw, id, compress } = event.data;
  const blocks = blocksOf(id, raw, blockKey);
  const member = compress ? encodeGzipMember(raw, deflateRaw) : null;
  const result: ChunkJobResult = { job, member, lengths: blocks.lengths, keys: blocks.keys };
  self.postMessage(result, member ? [member.buffer as ArrayBuffer] : []);
};
