// Worker thread entry: chunk jobs (compress, cut into blocks, proof answers) and member checks off the main thread, with the native codecs.
import { runChunkJob, transferablesOf, type ChunkJob } from "./archive/chunk-job.ts";
import { checkMembers, memberCheckTransferables, type MemberCheckJob } from "./archive/member-check.ts";
import { blockKey } from "./io/block-key.ts";
import { deflateOrStore, zstdFrame } from "./io/compress.ts";
import { RawInflater } from "./io/inflate-into.ts";

declare const self: Worker;

const codecs = { deflateOrStore, zstdFrame, blockKey };
// made at the first restore's member check: a backup's threads need none
let inflater: RawInflater | undefined;
const inflateInto = (deflated: Uint8Array, out: Uint8Array) => (inflater ??= new RawInflater()).inflateInto(deflated, out);

self.onmessage = (event: MessageEvent<ChunkJob | MemberCheckJob>) => {
  const job = event.data;
  if ("kind" in job && job.kind === "check-members") {
    const result = checkMembers(job, inflateInto);
    self.postMessage(result, memberCheckTransferables(result));
    return;
  }
  const result = runChunkJob(job as ChunkJob, codecs);
  self.postMessage(result, transferablesOf(result));
};
