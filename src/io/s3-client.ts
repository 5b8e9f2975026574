// An S3 client for one bucket: objects (put, ranged and streamed get, head, delete, list, copy) and multipart uploads.
import { S3Error } from "./s3-error.ts";
import { type S3Target, openS3Stream, sendS3 } from "./s3-request.ts";
import { uriEncode } from "./s3-signing.ts";
import { xmlBlocks, xmlEscape, xmlValue, xmlValues } from "./s3-xml.ts";

/** Bytes [start, end) of an object; end exclusive, as everywhere in HashRelay (S3's `bytes=a-b` is inclusive). */
export interface ByteRange {
  start: number;
  end: number;
}

export interface ObjectFacts {
  key: string;
  size: number;
  etag: string;
  /** ISO 8601 time the object was last written (listings only). */
  lastModified?: string;
}

/** Body bytes this client sent to the store and received from it (sums of part, object and range sizes). */
export interface S3Traffic {
  sent: number;
  received: number;
}

export interface ObjectListing {
  objects: ObjectFacts[];
  /** Pass back as `continuationToken` for the next page; absent on the last page. */
  nextToken?: string;
}

export interface UploadedPart {
  partNumber: number;
  etag: string;
}

export interface PendingUpload {
  key: string;
  uploadId: string;
  initiated: string;
}

/** An object's body as it arrives; `size` is the length of what was asked (the range), `objectSize` the whole. */
export interface ObjectStream {
  body: ReadableStream<Uint8Array>;
  size: number;
  objectSize: number;
  etag: string;
}

/**
 * The operations HashRelay needs, on one bucket. Every method throws S3Error (KEY for wrong
 * credentials, TIMEOUT, STORAGE with S3's code otherwise); none retries by itself.
 */
export class S3Client {
  /**
   * `traffic`: what went over the wire both ways since this client was made (copies inside the store are
   * not counted); shared with the clients withTimeout makes.
   */
  constructor(
    readonly target: S3Target,
    readonly traffic: S3Traffic = { sent: 0, received: 0 },
  ) {}

  /** This client with another request timeout (S3Target.timeoutMs), counting its traffic in the same sums. */
  withTimeout(timeoutMs: number): S3Client {
    return new S3Client({ ...this.target, timeoutMs }, this.traffic);
  }

  /**
   * Proves the credentials and the bucket with the cheapest request that has an error body (a HEAD
   * answers a wrong secret with a bare 403): throws S3Error, `credentialsWrong` when they are.
   */
  async checkAccess(): Promise<void> {
    await this.listObjects("", { maxKeys: 1 });
  }

  /** Creates the bucket itself (for tests and first setup); one that this owner already has is fine. */
  async createBucket(): Promise<void> {
    try {
      await sendS3(this.target, { operation: "CreateBucket", method: "PUT" });
    } catch (err) {
      if (!(err instanceof S3Error && err.s3Code === "BucketAlreadyOwnedByYou")) throw err;
    }
  }

  /** Stores `body` under `key` in one request (S3 caps this at 5 GiB; HashRelay sends small objects so). */
  async putObject(key: string, body: Uint8Array, contentType = "application/octet-stream"): Promise<string> {
    const answer = await sendS3(this.target, {
      operation: "PutObject",
      method: "PUT",
      key,
      body,
      headers: { "content-type": contentType },
    });
    this.traffic.sent += body.length;
    return answer.headers.get("etag") ?? "";
  }

  /**
   * Stores `body` under `key` only when no object has that key (If-None-Match: *, which RGW 16.2
   * honours): true when stored, false when the key was taken (412 PreconditionFailed).
   */
  async createObject(key: string, body: Uint8Array): Promise<boolean> {
    try {
      await sendS3(this.target, { operation: "PutObject", method: "PUT", key, body, headers: { "if-none-match": "*" } });
      this.traffic.sent += body.length;
      return true;
    } catch (err) {
      if (err instanceof S3Error && err.status === 412) return false;
      throw err;
    }
  }

  /** The object's bytes, streamed; only `range` when given (an empty range is refused: S3 has no way to ask for it). */
  async getObject(key: string, range?: ByteRange): Promise<ObjectStream> {
    if (range && !(range.start >= 0 && range.end > range.start)) throw new RangeError(`bad range [${range.start}, ${range.end})`);
    const headers: Record<string, string> = range ? { range: `bytes=${range.start}-${range.end - 1}` } : {};
    const response = await openS3Stream(this.target, { operation: "GetObject", method: "GET", key, headers });
    const size = Number(response.headers.get("content-length"));
    if (range && (response.status !== 206 || size !== range.end - range.start)) {
      await response.body?.cancel();
      const s3Message = `asked for ${range.end - range.start} bytes at ${range.start}, got HTTP ${response.status} with ${size} bytes`;
      throw new S3Error({ operation: "GetObject", status: response.status, s3Code: "RangeNotHonoured", s3Message, requestId: "" });
    }
    const whole = /\/(\d+)$/.exec(response.headers.get("content-range") ?? "")?.[1];
    this.traffic.received += size;
    return {
      body: response.body ?? new ReadableStream({ start: (c) => c.close() }),
      size,
      objectSize: whole === undefined ? size : Number(whole),
      etag: response.headers.get("etag") ?? "",
    };
  }

  /** The whole object (or `range`) in memory: for small objects and tests. */
  async getBytes(key: string, range?: ByteRange): Promise<Uint8Array> {
    const { body } = await this.getObject(key, range);
    return new Uint8Array(await new Response(body).arrayBuffer());
  }

  /** Size and ETag of `key`, or null when there is no such object. */
  async headObject(key: string): Promise<ObjectFacts | null> {
    try {
      const answer = await sendS3(this.target, { operation: "HeadObject", method: "HEAD", key });
      return { key, size: Number(answer.headers.get("content-length")), etag: answer.headers.get("etag") ?? "" };
    } catch (err) {
      if (err instanceof S3Error && err.status === 404) return null;
      throw err;
    }
  }

  /** Removes `key`; removing a key that does not exist succeeds (S3's rule). */
  async deleteObject(key: string): Promise<void> {
    await sendS3(this.target, { operation: "DeleteObject", method: "DELETE", key });
  }

  /** One page (at most `maxKeys`, S3 caps it at 1,000) of the keys under `prefix`, in key order. */
  async listObjects(prefix: string, options: { maxKeys?: number; continuationToken?: string } = {}): Promise<ObjectListing> {
    const query: Record<string, string> = { "list-type": "2", prefix, "max-keys": String(options.maxKeys ?? 1000) };
    if (options.continuationToken) query["continuation-token"] = options.continuationToken;
    const { text } = await sendS3(this.target, { operation: "ListObjectsV2", method: "GET", query });
    const objects = xmlBlocks(text, "Contents").map((block) => ({
      key: xmlValue(block, "Key") ?? "",
      size: Number(xmlValue(block, "Size")),
      etag: xmlValue(block, "ETag") ?? "",
      lastModified: xmlValue(block, "LastModified") ?? "",
    }));
    const truncated = xmlValue(text, "IsTruncated") === "true";
    const nextToken = xmlValue(text, "NextContinuationToken");
    return truncated && nextToken ? { objects, nextToken } : { objects };
  }

  /** Every key under `prefix`, page after page. */
  async *listAllObjects(prefix: string, pageSize = 1000): AsyncGenerator<ObjectFacts> {
    let token: string | undefined;
    do {
      const page = await this.listObjects(prefix, { maxKeys: pageSize, ...(token ? { continuationToken: token } : {}) });
      yield* page.objects;
      token = page.nextToken;
    } while (token);
  }

  /** Copies `sourceKey` to `key` inside the store (S3 caps a single copy at 5 GiB; beyond, compose with parts). */
  async copyObject(sourceKey: string, key: string): Promise<string> {
    const headers = { "x-amz-copy-source": this.copySource(sourceKey) };
    const { text } = await sendS3(this.target, { operation: "CopyObject", method: "PUT", key, headers });
    return xmlValue(text, "ETag") ?? "";
  }

  /** Starts a multipart upload of `key`; nothing is visible under `key` until it is completed. */
  async createMultipartUpload(key: string): Promise<string> {
    const { text } = await sendS3(this.target, { operation: "CreateMultipartUpload", method: "POST", key, query: { uploads: "" } });
    const uploadId = xmlValue(text, "UploadId");
    if (!uploadId)
      throw new S3Error({
        operation: "CreateMultipartUpload",
        status: 200,
        s3Code: "MalformedAnswer",
        s3Message: "no UploadId",
        requestId: "",
      });
    return uploadId;
  }

  /** Uploads part `partNumber` (1..10,000) from `body`; every part but the last must be 5 MiB or more. */
  async uploadPart(key: string, uploadId: string, partNumber: number, body: Uint8Array): Promise<UploadedPart> {
    const query = { partNumber: String(partNumber), uploadId };
    const answer = await sendS3(this.target, { operation: "UploadPart", method: "PUT", key, query, body });
    this.traffic.sent += body.length;
    return { partNumber, etag: answer.headers.get("etag") ?? "" };
  }

  /** Makes part `partNumber` from bytes `range` of `sourceKey`, copied inside the store (x-amz-copy-source-range). */
  async uploadPartCopy(key: string, uploadId: string, partNumber: number, sourceKey: string, range: ByteRange): Promise<UploadedPart> {
    const headers = {
      "x-amz-copy-source": this.copySource(sourceKey),
      "x-amz-copy-source-range": `bytes=${range.start}-${range.end - 1}`,
    };
    const query = { partNumber: String(partNumber), uploadId };
    const { text } = await sendS3(this.target, { operation: "UploadPartCopy", method: "PUT", key, query, headers });
    return { partNumber, etag: xmlValue(text, "ETag") ?? "" };
  }

  /** Joins `parts` (in part-number order) into the object `key`, which becomes visible only now. */
  async completeMultipartUpload(key: string, uploadId: string, parts: readonly UploadedPart[]): Promise<string> {
    const list = parts
      .map((part) => `<Part><PartNumber>${part.partNumber}</PartNumber><ETag>${xmlEscape(part.etag)}</ETag></Part>`)
      .join("");
    const body = new TextEncoder().encode(`<CompleteMultipartUpload>${list}</CompleteMultipartUpload>`);
    const request = { operation: "CompleteMultipartUpload", method: "POST" as const, key, query: { uploadId }, body };
    const { text } = await sendS3(this.target, { ...request, headers: { "content-type": "application/xml" } });
    return xmlValue(text, "ETag") ?? "";
  }

  /** Drops the upload and its parts; an upload already gone (NoSuchUpload) counts as aborted. */
  async abortMultipartUpload(key: string, uploadId: string): Promise<void> {
    try {
      await sendS3(this.target, { operation: "AbortMultipartUpload", method: "DELETE", key, query: { uploadId } });
    } catch (err) {
      if (!(err instanceof S3Error && err.s3Code === "NoSuchUpload")) throw err;
    }
  }

  /** Uploads begun under `prefix` and neither completed nor aborted (leftovers of an interrupted compose). */
  async listMultipartUploads(prefix: string): Promise<PendingUpload[]> {
    const out: PendingUpload[] = [];
    let marker: Record<string, string> = {};
    for (;;) {
      const query = { uploads: "", prefix, ...marker };
      const { text } = await sendS3(this.target, { operation: "ListMultipartUploads", method: "GET", query });
      for (const block of xmlBlocks(text, "Upload")) {
        out.push({
          key: xmlValue(block, "Key") ?? "",
          uploadId: xmlValue(block, "UploadId") ?? "",
          initiated: xmlValue(block, "Initiated") ?? "",
        });
      }
      if (xmlValue(text, "IsTruncated") !== "true") return out;
      const [keyMarker] = xmlValues(text, "NextKeyMarker");
      const [uploadIdMarker] = xmlValues(text, "NextUploadIdMarker");
      if (!keyMarker) return out; // a truncated page without a marker cannot be followed
      marker = { "key-marker": keyMarker, "upload-id-marker": uploadIdMarker ?? "" };
    }
  }

  /** The x-amz-copy-source value: /bucket/key, the key encoded as in a path. */
  private copySource(sourceKey: string): string {
    return `/${uriEncode(this.target.bucket)}/${uriEncode(sourceKey, true)}`;
  }
}
