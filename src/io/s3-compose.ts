// Runs a compose plan as one multipart upload (copied parts by ranged UploadPartCopy, the rest uploaded; aborted on any failure), and copies objects of any size.
import { type ComposePlan, type PartSource, S3_PART_LIMITS, planCompose } from "../archive/compose-plan.ts";
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

/** S3's limit on one CopyObject (5 GiB): a larger object is copied as a multipart upload of ranged part copies. */
export const SINGLE_COPY_LIMIT = S3_PART_LIMITS.maxPart;

/**
 * Copies the object `sourceKey` (`size` bytes) to `key` inside the store, of any size S3 allows: up
 * to `singleCopyLimit` with one CopyObject, beyond it as a multipart upload of ranged UploadPartCopy
 * parts of at most `singleCopyLimit` each (at least 10 MiB: each part must stay over S3's 5 MiB
 * floor). Every part must answer an ETag before CompleteMultipartUpload, and the new object must then
 * have `size` bytes (else it is deleted); any failure aborts the upload, the source untouched, and is
 * rethrown. Throws S3Error, and RangeError for a limit that cannot be split.
 */
export async function copyObjectAnySize(
  client: S3Client,
  sourceKey: string,
  key: string,
  size: number,
  singleCopyLimit = SINGLE_COPY_LIMIT,
): Promise<void> {
  if (size <= singleCopyLimit) {
    await client.copyObject(sourceKey, key);
    return;
  }
  const plan = planCompose([{ kind: "old", start: 0, end: size }], { ...S3_PART_LIMITS, maxPart: singleCopyLimit });
  const noUploads: SourceBytes = () => {
    throw new RangeError("a whole-object copy uploads nothing");
  };
  await composeObject(client, key, sourceKey, plan, noUploads, (parts) => {
    const unanswered = parts.find((part) => !part.etag);
    if (unanswered) throw new RangeError(`part ${unanswered.partNumber} of the copy to ${key} has no ETag`);
  });
  const copied = await client.headObject(key);
  if (copied?.size !== size) {
    await client.deleteObject(key);
    throw new RangeError(`the copy of ${sourceKey} to ${key} has ${copied?.size ?? "no"} bytes, not ${size}`);
  }
}
