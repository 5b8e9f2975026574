// Worker thread entry: chunk jobs (compress, cut into blocks, proof answers) off the main thread, with the native codecs.
import { runChunkJob, transferablesOf, type ChunkJob } from "./archive/chunk-job.ts";
import { blockKey } from "./io/block-key.ts";
import { deflateRaw, zstdFrame } from "./io/compress.ts";

declare const self: Worker;

const codecs = { deflateRaw, zstdFrame, blockKey };

self.onmessage = (event: MessageEvent<ChunkJob>) => {
  const result = runChunkJob(event.data, codecs);
  self.postMessage(result, transferablesOf(result));
};
