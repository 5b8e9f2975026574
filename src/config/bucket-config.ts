// Pure: server.storage as an s3://bucket/prefix URL, and server.s3.endpoint, checked with what to write instead.

/** An S3 storage URL's parts, or why the text is not one. */
export type S3UrlParse = { ok: true; bucket: string; prefix: string } | { ok: false; message: string; hint: string };

export const S3_URL_HINT = "write s3://BUCKET or s3://BUCKET/PREFIX, e.g. s3://backups/hashrelay";

/** True when server.storage names a bucket rather than a folder. */
export function isS3Url(text: string): boolean {
  return text.startsWith("s3://");
}

/**
 * Splits "s3://bucket/prefix": the bucket a DNS-compatible S3 name (3-63 lower-case letters, digits,
 * dots, hyphens; a letter or digit at each end), the prefix without its outer "/" and with no empty,
 * "." or ".." segment (a key URL would fold those away).
 */
export function parseS3Url(text: string): S3UrlParse {
  const rest = text.slice("s3://".length);
  const slash = rest.indexOf("/");
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const prefix = (slash < 0 ? "" : rest.slice(slash + 1)).replace(/\/+$/, "");
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    return { ok: false, message: `"${bucket}" is not an S3 bucket name (3-63 of a-z, 0-9, ".", "-")`, hint: S3_URL_HINT };
  }
  if (prefix !== "" && prefix.split("/").some((segment) => segment === "" || segment === "." || segment === "..")) {
    return { ok: false, message: `the prefix "${prefix}" has an empty, "." or ".." segment`, hint: S3_URL_HINT };
  }
  return { ok: true, bucket, prefix };
}

/** Why `text` is not an endpoint (http or https, a host, no path, query or credentials), or null when it is one. */
export function endpointProblem(text: string): string | null {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `"${text}" is not a URL`;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return `"${text}" is not http:// or https://`;
  if (url.username || url.password || url.search || url.hash || (url.pathname !== "/" && url.pathname !== "")) {
    return `"${text}" has more than a scheme, host and port`;
  }
  return null;
}
