// AWS Signature Version 4 for S3 requests, on node:crypto: the canonical request, the scope, the Authorization header.
import { createHash, createHmac } from "node:crypto";

/** An access key pair; `sessionToken` only for temporary credentials (sent as x-amz-security-token). */
export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** What the signature covers. `headers` must already hold every header to sign except the x-amz-* ones added here. */
export interface RequestToSign {
  method: string;
  url: URL;
  headers: Record<string, string>;
  /** Hex SHA-256 of the body (`sha256Hex`), or "UNSIGNED-PAYLOAD". */
  payloadHash: string;
  region: string;
  /** The signing time; its ISO form is cut to whole seconds. */
  at: Date;
}

export const EMPTY_PAYLOAD_HASH = sha256Hex(new Uint8Array(0));
const SERVICE = "s3";

/** Hex SHA-256 of `bytes`. */
export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * RFC 3986 percent-encoding as SigV4 wants it: every byte but A-Z a-z 0-9 - _ . ~ is encoded;
 * `/` too unless `keepSlash` (object keys in a path).
 */
export function uriEncode(text: string, keepSlash = false): string {
  const encoded = encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return keepSlash ? encoded.replace(/%2F/g, "/") : encoded;
}

/**
 * The headers to send with the request: `headers` plus x-amz-date, x-amz-content-sha256, the session
 * token if any, and Authorization. Every header given is signed (host included; the caller sets it).
 */
export function signRequest(request: RequestToSign, credentials: S3Credentials): Record<string, string> {
  const amzDate = request.at
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
  const day = amzDate.slice(0, 8);
  const headers: Record<string, string> = {
    ...request.headers,
    "x-amz-date": amzDate,
    "x-amz-content-sha256": request.payloadHash,
  };
  if (credentials.sessionToken) headers["x-amz-security-token"] = credentials.sessionToken;
  const names = Object.keys(headers)
    .map((name) => name.toLowerCase())
    .sort();
  const byLowerName = new Map(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
  const canonicalHeaders = names.map((name) => `${name}:${byLowerName.get(name)!.trim().replace(/\s+/g, " ")}\n`).join("");
  const signedHeaders = names.join(";");
  const canonicalRequest = [
    request.method,
    canonicalPath(request.url),
    canonicalQuery(request.url),
    canonicalHeaders,
    signedHeaders,
    request.payloadHash,
  ].join("\n");
  const scope = `${day}/${request.region}/${SERVICE}/aws4_request`;
  const stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256Hex(canonicalRequest)].join("\n");
  const signature = createHmac("sha256", signingKey(credentials.secretAccessKey, day, request.region))
    .update(stringToSign)
    .digest("hex");
  headers.authorization =
    `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope},` + `SignedHeaders=${signedHeaders},Signature=${signature}`;
  return headers;
}

/** The derived key: HMAC chain over day, region, service (S3 keys are never double-encoded). */
function signingKey(secret: string, day: string, region: string): Buffer {
  const step = (key: string | Buffer, data: string) => createHmac("sha256", key).update(data).digest();
  return step(step(step(step(`AWS4${secret}`, day), region), SERVICE), "aws4_request");
}

/** The URL's path as sent, decoded once and encoded again the SigV4 way (S3 keeps it single-encoded). */
function canonicalPath(url: URL): string {
  const path = url.pathname
    .split("/")
    .map((segment) => uriEncode(decodeURIComponent(segment)))
    .join("/");
  return path || "/";
}

/** Query parameters sorted by encoded name, then value; a bare `?uploads` becomes `uploads=`. */
function canonicalQuery(url: URL): string {
  return [...url.searchParams]
    .map(([name, value]) => [uriEncode(name), uriEncode(value)] as const)
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join("&");
}
