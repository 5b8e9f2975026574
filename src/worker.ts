// Worker thread entry: chunk jobs (compress, cut into blocks, proof answers) and member checks off the main thread, with the native codecs.
import { runChunkJob, transferablesOf, type ChunkJob } from "./archive/chunk-job.ts";
import { checkMembers, memberCheckTransferables, type MemberCheckJob } from "./archive/member-check.ts";
import { blockKey } from "./io/block-key.ts";
import { deflateRaw, zstdFrame } from "./io/compress.ts";

declare const self: Worker;

const codecs = { deflateRaw, zstdFrame, blockKey };

self.onmessage = (event: MessageEvent<ChunkJob | MemberCheckJob>) => {
  const job = event.data;
  if ("kind" in job && job.kind === "check-members") {
    const result = checkMembers(job);
    self.postMessage(result, memberCheckTransferables(result));
    return;
  }
  const result = runChunkJob(job as ChunkJob, codecs);
  self.postMessage(result, transferablesOf(result));
};
