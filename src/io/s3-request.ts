// One signed request to an S3 endpoint: its URL (path-style or virtual-host), a deadline, answers read within a size limit.
import { S3Error, s3ErrorFromAnswer } from "./s3-error.ts";
import { type S3Credentials, EMPTY_PAYLOAD_HASH, sha256Hex, signRequest, uriEncode } from "./s3-signing.ts";

/** Where and as whom to talk: one bucket of one endpoint. */
export interface S3Target {
  /** "http://127.0.0.1:7480" or "https://s3.example.org"; no path. */
  endpoint: string;
  region: string;
  bucket: string;
  /** true: endpoint/bucket/key; false: bucket.endpoint-host/key (virtual-host style, needs DNS for the bucket). */
  pathStyle: boolean;
  credentials: S3Credentials;
  /** A request with no answer (or, streamed, no new bytes) for this long fails with TIMEOUT. */
  timeoutMs: number;
}

export interface S3Request {
  /** S3's operation name, for errors: "PutObject", "UploadPartCopy", … */
  operation: string;
  method: "GET" | "PUT" | "HEAD" | "DELETE" | "POST";
  /** The object key; absent for a request on the bucket itself. */
  key?: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: Uint8Array;
}

/** A whole answer, its body read as text (XML) within the limit. */
export interface S3Answer {
  status: number;
  headers: Headers;
  text: string;
}

/** An S3 XML error body larger than this is refused unread (its length is checked before anything is kept). */
export const MAX_ERROR_BODY = 64 * 1024;
/** Any other XML answer (a listing of 1,000 keys is ~300 KiB). */
export const MAX_XML_BODY = 8 * 1024 * 1024;

/** The URL of `key` (or of the bucket) at `target`, keys encoded once with `/` kept; RangeError for a key a URL cannot carry as is. */
export function objectUrl(target: S3Target, key?: string, query: Record<string, string> = {}): URL {
  // a URL would fold "." and ".." segments away, addressing another key than the one signed
  if (key !== undefined && (key === "" || key.split("/").some((segment) => segment === "." || segment === ".."))) {
    throw new RangeError(`object key ${JSON.stringify(key)} is empty or has a "." or ".." segment`);
  }
  const base = new URL(target.endpoint);
  const path = key === undefined ? "" : uriEncode(key, true);
  const url = target.pathStyle
    ? new URL(`${base.protocol}//${base.host}/${uriEncode(target.bucket)}${key === undefined ? "" : `/${path}`}`)
    : new URL(`${base.protocol}//${target.bucket}.${base.host}/${path}`);
  for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value);
  return url;
}

/**
 * Sends `request` and reads its answer (at most MAX_XML_BODY). Throws S3Error: S3's own error for a
 * status outside 2xx and for a 200 whose body is an `<Error>` (CopyObject, UploadPartCopy and
 * CompleteMultipartUpload answer so), TIMEOUT after `timeoutMs` without the whole answer, and
 * NetworkError when the endpoint cannot be reached. Safe to retry only where the operation is.
 */
export async function sendS3(target: S3Target, request: S3Request): Promise<S3Answer> {
  const deadline = new Deadline(target.timeoutMs);
  try {
    const response = await fetchSigned(target, request, deadline);
    // a HEAD's Content-Length is the object's, with no body behind it
    const text = request.method === "HEAD" ? "" : await readCappedText(response, MAX_XML_BODY, request.operation);
    if (/^\s*(<\?xml[^>]*\?>\s*)?<Error[\s>]/.test(text)) {
      throw s3ErrorFromAnswer(request.operation, response.status, text, response.headers.get("x-amz-request-id"));
    }
    return { status: response.status, headers: response.headers, text };
  } catch (err) {
    throw deadline.explain(err, request.operation);
  } finally {
    deadline.clear();
  }
}

/**
 * Sends `request` and hands back the answer's body as a stream, which errors with TIMEOUT when no
 * bytes come for `timeoutMs`. Throws like sendS3 when the answer is an error.
 */
export async function openS3Stream(target: S3Target, request: S3Request): Promise<Response> {
  const deadline = new Deadline(target.timeoutMs);
  let response: Response;
  try {
    response = await fetchSigned(target, request, deadline);
  } catch (err) {
    deadline.clear();
    throw deadline.explain(err, request.operation);
  }
  if (!response.body) {
    deadline.clear();
    return response;
  }
  const reader = response.body.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        deadline.restart();
        const { done, value } = await reader.read();
        if (done) {
          deadline.clear();
          controller.close();
        } else controller.enqueue(value);
      } catch (err) {
        deadline.clear();
        controller.error(deadline.explain(err, request.operation));
      }
    },
    cancel(reason) {
      deadline.clear();
      return reader.cancel(reason);
    },
  });
  return new Response(body, { status: response.status, headers: response.headers });
}

/** Reads `response`'s body as text, refusing one over `limit` bytes (by its Content-Length first, unread). */
export async function readCappedText(response: Response, limit: number, operation: string): Promise<string> {
  const declared = Number(response.headers.get("content-length") ?? Number.NaN);
  if (declared > limit || !response.body) {
    await response.body?.cancel();
    if (declared > limit) throw tooLarge(operation, response.status, declared, limit);
    return "";
  }
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const part of response.body as unknown as AsyncIterable<Uint8Array>) {
    size += part.length;
    if (size > limit) throw tooLarge(operation, response.status, size, limit);
    parts.push(part);
  }
  return Buffer.concat(parts).toString("utf8");
}

/** Signs and sends; a status outside 2xx becomes S3's error (its body read within MAX_ERROR_BODY). */
async function fetchSigned(target: S3Target, request: S3Request, deadline: Deadline): Promise<Response> {
  const url = objectUrl(target, request.key, request.query);
  const body = request.body ?? new Uint8Array(0);
  const signed = signRequest(
    {
      method: request.method,
      url,
      headers: { host: url.host, ...request.headers },
      payloadHash: body.length === 0 ? EMPTY_PAYLOAD_HASH : sha256Hex(body),
      region: target.region,
      at: new Date(),
    },
    target.credentials,
  );
  delete signed.host; // fetch sends the same host from the URL
  const response = await fetch(url, {
    method: request.method,
    headers: signed,
    body: request.method === "GET" || request.method === "HEAD" ? undefined : body,
    signal: deadline.signal,
  });
  if (response.ok) return response;
  const text = request.method === "HEAD" ? "" : await readCappedText(response, MAX_ERROR_BODY, request.operation);
  throw s3ErrorFromAnswer(request.operation, response.status, text, response.headers.get("x-amz-request-id"));
}

function tooLarge(operation: string, status: number, size: number, limit: number): S3Error {
  return new S3Error({
    operation,
    status,
    s3Code: "AnswerTooLarge",
    s3Message: `the answer's body is ${size} bytes or more, over the ${limit}-byte limit`,
    requestId: "",
  });
}

/** An abort signal that fires `timeoutMs` after the last (re)start. */
class Deadline {
  private readonly controller = new AbortController();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private fired = false;

  constructor(private readonly timeoutMs: number) {
    this.restart();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  restart(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.fired = true;
      this.controller.abort();
    }, this.timeoutMs);
  }

  clear(): void {
    clearTimeout(this.timer);
  }

  /** `err` as an S3Error: TIMEOUT when this deadline fired, NetworkError when fetch failed, else unchanged. */
  explain(err: unknown, operation: string): unknown {
    if (err instanceof S3Error) return err;
    const facts = { operation, status: 0, requestId: "" };
    if (this.fired) return new S3Error({ ...facts, s3Code: "Timeout", s3Message: `no answer within ${this.timeoutMs} ms` }, { cause: err });
    return new S3Error({ ...facts, s3Code: "NetworkError", s3Message: (err as Error)?.message ?? String(err) }, { cause: err });
  }
}
