// An archive just stored in the cache goes to the bucket: composed from its predecessor's object, each part checked.
import { createHash } from "node:crypto";
import { open, unlink, type FileHandle } from "node:fs/promises";
import { composePieces, planCompose, type ComposePlan, type PartSource, type PlacedMember } from "../archive/compose-plan.ts";
import { HashRelayError } from "../errors.ts";
import { S3Client, type UploadedPart } from "../io/s3-client.ts";
import { composeObject } from "../io/s3-compose.ts";
import type { BucketArchives } from "./bucket-archives.ts";
import type { ArchiveRow } from "./index-entry.ts";
import type { StoreContext } from "./store-context.ts";

/** What one publish moved: bytes of the uploaded parts (the plan's), bytes it copied inside itself, parts. */
export interface PublishFigures {
  bytesUploaded: number;
  /** Every body byte this publish sent the store, as its own S3 client counted them: the parts and the signed record. */
  bytesSent: number;
  bytesCopied: number;
  parts: number;
}

/**
 * Makes `row` (installed and indexed in the cache; its predecessors not trashed yet) visible in the
 * bucket: its signed record first, then the archive as one multipart upload whose runs equal to the
 * predecessor's object are copied inside the store and the rest uploaded from the cached file. Each
 * part's ETag is checked against the MD5 of the cached file's bytes there (which were checked against
 * the client's signed manifest) before CompleteMultipartUpload. On any failure the upload is aborted
 * (the old object stays as it was), the archive is taken out of the cache again (index, file, record),
 * and STORAGE is thrown (BUSY when this server's lease on the name lapsed and another server took it):
 * nothing claims the archive is stored, and the client's next tick retries.
 */
export async function publishOrUndo(ctx: StoreContext, bucket: BucketArchives, row: ArchiveRow): Promise<PublishFigures> {
  const started = performance.now();
  try {
    const figures = await publish(ctx, bucket, row);
    const ms = Math.round(performance.now() - started);
    ctx.log("info", "archive.published", { client: row.client, file: row.file, ...figures, ms });
    return figures;
  } catch (err) {
    await bucket.s3.deleteObject(bucket.signedKey(row.client, row.file)).catch(() => undefined);
    ctx.index.remove(row.client, row.file);
    await unlink(ctx.layout.archivePath(row.client, row.file)).catch(() => undefined);
    await unlink(ctx.layout.signedPath(row.client, row.file)).catch(() => undefined);
    ctx.log("error", "archive.unpublished", { client: row.client, file: row.file, error: (err as Error).message });
    const busy = err instanceof HashRelayError && err.code === "BUSY";
    throw new HashRelayError(
      busy ? "BUSY" : "STORAGE",
      `cannot publish ${row.client}/${row.file} to ${bucket.config.url}: ${(err as Error).message}`,
      "the previous archive is intact in the bucket; the client's next backup tries again",
      { cause: err },
    );
  }
}

async function publish(ctx: StoreContext, bucket: BucketArchives, row: ArchiveRow): Promise<PublishFigures> {
  const { client, name, file } = row;
  await bucket.leases.check(bucket.leaseBase(client, name)); // a lapsed lease may have let another server in
  const key = bucket.archiveKey(client, file);
  const previous = ctx.index
    .archives(client)
    .filter((e) => e.name === name && e.file !== file)
    .at(-1);
  const oldKey = previous ? bucket.archiveKey(client, previous.file) : "";
  // the cached predecessor is a source only when the bucket holds it, whole
  const oldInBucket = previous !== undefined && (await bucket.s3.headObject(oldKey))?.size === previous.size;
  // a member found damaged (in the cache or the bucket: the same offsets) is never copied: its part would fail its check
  const old = oldInBucket
    ? [...placedMembers(ctx, client, previous.file)].filter((m) => !ctx.damage.isDamagedAt(client, previous.file, m.offset))
    : [];
  const plan = planCompose(composePieces(placedMembers(ctx, client, file), old, row.size));
  // a client of its own: its traffic is this publish's alone, while other clients' publish at once
  const s3 = new S3Client(bucket.s3.target);
  await putSignedRecord(s3, bucket.signedKey(client, file), ctx.layout.signedPath(client, file));
  await abortLeftovers(bucket, client, name);
  const cached = await open(ctx.layout.archivePath(client, file), "r");
  try {
    if (plan.parts.length === 0) await s3.putObject(key, new Uint8Array(0));
    else {
      const offsets = newOffsets(plan);
      const bytesOf = (source: PartSource) => readAt(cached, offsets.get(source)!, source.end - source.start);
      await composeObject(s3, key, oldKey, plan, bytesOf, (parts) => checkParts(cached, plan, parts, key));
    }
  } finally {
    await cached.close();
  }
  return { bytesUploaded: plan.bytesUploaded, bytesSent: s3.traffic.sent, bytesCopied: plan.bytesCopied, parts: plan.parts.length };
}

/**
 * Aborts the multipart uploads of `name`'s objects an earlier publish could not abort (the store was
 * down): invisible, but they hold their parts' space. Only this name's, which only its lease holder publishes.
 */
async function abortLeftovers(bucket: BucketArchives, client: string, name: string): Promise<void> {
  for (const upload of await bucket.s3.listMultipartUploads(bucket.namePrefix(client, name)))
    await bucket.s3.abortMultipartUpload(upload.key, upload.uploadId);
}

/** The archive's members as the index has them (file order), keyed by the SHA-256 of their bytes. */
function* placedMembers(ctx: StoreContext, client: string, file: string): Generator<PlacedMember> {
  for (const m of ctx.index.iterateMembers(client, file))
    yield { offset: m.offset, length: m.length, key: Buffer.from(m.sha256).toString("hex") };
}

/** The signed record of (client, file) from the cache to the bucket, when there is one. */
async function putSignedRecord(s3: S3Client, key: string, path: string): Promise<void> {
  const record = await open(path, "r").catch(() => null);
  if (!record) return;
  try {
    await s3.putObject(key, await record.readFile(), "application/json");
  } finally {
    await record.close();
  }
}

/** Where in the new object each uploaded source's bytes lie: parts cover it in order, so a running sum says. */
function newOffsets(plan: ComposePlan): Map<PartSource, number> {
  const at = new Map<PartSource, number>();
  let offset = 0;
  for (const part of plan.parts) {
    if (part.kind === "copy") offset += part.end - part.start;
    else
      for (const source of part.sources) {
        at.set(source, offset);
        offset += source.end - source.start;
      }
  }
  return at;
}

async function readAt(file: FileHandle, offset: number, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  const { bytesRead } = await file.read(out, 0, length, offset);
  if (bytesRead !== length)
    throw new HashRelayError("STORAGE", `the cached archive ended at ${offset + bytesRead}, expected ${offset + length}`);
  return out;
}

/** Throws STORAGE when a part's ETag is not the MD5 of the cached file's bytes it should hold. */
async function checkParts(file: FileHandle, plan: ComposePlan, parts: readonly UploadedPart[], key: string): Promise<void> {
  let offset = 0;
  for (const [index, part] of plan.parts.entries()) {
    const length = part.kind === "copy" ? part.end - part.start : part.length;
    const expected = await md5Of(file, offset, length);
    const etag = parts[index]!.etag.replaceAll('"', "");
    if (etag !== expected) {
      throw new HashRelayError("STORAGE", `part ${index + 1} of ${key} (${part.kind}) has ETag ${etag}, its bytes have MD5 ${expected}`);
    }
    offset += length;
  }
}

const HASH_SLICE = 8 * 1024 * 1024;

async function md5Of(file: FileHandle, offset: number, length: number): Promise<string> {
  const hash = createHash("md5");
  for (let done = 0; done < length; ) {
    const slice = await readAt(file, offset + done, Math.min(HASH_SLICE, length - done));
    hash.update(slice);
    done += slice.length;
  }
  return hash.digest("hex");
}
