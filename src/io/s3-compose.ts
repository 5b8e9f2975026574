// Runs a compose plan as one multipart upload: copied parts by ranged UploadPartCopy, the rest uploaded; aborted on any failure.
import type { ComposePlan, PartSource } from "../archive/compose-plan.ts";
import type { S3Client, UploadedPart } from "./s3-client.ts";

/** The bytes of one upload source: old ranges from wherever the caller holds the old object, new bytes from the upload. */
export type SourceBytes = (source: PartSource) => Uint8Array | Promise<Uint8Array>;

/**
 * Writes `plan` to `key`, copying its copy parts from `oldKey` inside the store. `key` appears only at
 * CompleteMultipartUpload; when any step fails the upload is aborted (nothing left but what was there
 * before) and the error is rethrown. `beforeComplete` may inspect the parts and throw to refuse them.
 * Parts go one at a time. Returns the new object's ETag.
 */
export async function composeObject(
  client: S3Client,
  key: string,
  oldKey: string,
  plan: ComposePlan,
  bytesOf: SourceBytes,
  beforeComplete: (parts: readonly UploadedPart[]) => void | Promise<void> = () => {},
): Promise<string> {
  if (plan.parts.length === 0) throw new RangeError("an empty plan has no parts: PUT an empty object instead");
  const uploadId = await client.createMultipartUpload(key);
  try {
    const done: UploadedPart[] = [];
    for (const [index, part] of plan.parts.entries()) {
      const partNumber = index + 1;
      if (part.kind === "copy") done.push(await client.uploadPartCopy(key, uploadId, partNumber, oldKey, part));
      else done.push(await client.uploadPart(key, uploadId, partNumber, await partBytes(part.length, part.sources, bytesOf)));
    }
    await beforeComplete(done);
    return await client.completeMultipartUpload(key, uploadId, done);
  } catch (err) {
    await client.abortMultipartUpload(key, uploadId).catch(() => {}); // the first error is the one to report
    throw err;
  }
}

/** One uploaded part's bytes, its sources laid end to end; throws when a source gives the wrong length. */
async function partBytes(length: number, sources: readonly PartSource[], bytesOf: SourceBytes): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let at = 0;
  for (const source of sources) {
    const bytes = await bytesOf(source);
    if (bytes.length !== source.end - source.start) {
      throw new RangeError(`a ${source.kind} source gave ${bytes.length} bytes for [${source.start}, ${source.end})`);
    }
    out.set(bytes, at);
    at += bytes.length;
  }
  return out;
}
