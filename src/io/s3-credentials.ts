// Object-store credentials: from a 0600 file in the AWS shared-credentials format, or from the standard AWS_* variables.
import { HashRelayError } from "../errors.ts";
import { readOwnerOnlyFile } from "./owner-only-file.ts";
import type { S3Credentials } from "./s3-signing.ts";

/** What the standard AWS environment variables say; each field absent when its variable is unset or empty. */
export interface S3Environment {
  credentials?: S3Credentials;
  region?: string;
  endpoint?: string;
}

/**
 * Pure: reads AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN), AWS_REGION (else
 * AWS_DEFAULT_REGION) and AWS_ENDPOINT_URL. Throws KEY when only one half of the key pair is set.
 */
export function s3EnvironmentFrom(env: Readonly<Record<string, string | undefined>>): S3Environment {
  const value = (name: string) => env[name]?.trim() || undefined;
  const accessKeyId = value("AWS_ACCESS_KEY_ID");
  const secretAccessKey = value("AWS_SECRET_ACCESS_KEY");
  if (Boolean(accessKeyId) !== Boolean(secretAccessKey)) {
    const missing = accessKeyId ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID";
    throw new HashRelayError(
      "KEY",
      `${missing} is not set but its other half is`,
      "set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither",
    );
  }
  const out: S3Environment = {};
  if (accessKeyId && secretAccessKey) {
    const sessionToken = value("AWS_SESSION_TOKEN");
    out.credentials = { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
  }
  const region = value("AWS_REGION") ?? value("AWS_DEFAULT_REGION");
  if (region) out.region = region;
  const endpoint = value("AWS_ENDPOINT_URL");
  if (endpoint) out.endpoint = endpoint;
  return out;
}

/**
 * Pure: the key pair of `profile` in an AWS shared-credentials text (`[default]`, then
 * `aws_access_key_id = …`, `aws_secret_access_key = …`, optional `aws_session_token`; `#`/`;` comments).
 * Throws KEY naming the file and line when the profile or a key is missing or a line is not `name = value`.
 */
export function parseCredentialsFile(text: string, file: string, profile = "default"): S3Credentials {
  const found: Record<string, string> = {};
  let section = "";
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[\s*(?:profile\s+)?([^\]]+?)\s*\]$/.exec(line);
    if (header) {
      section = header[1]!;
      continue;
    }
    const pair = /^([A-Za-z_][\w]*)\s*=\s*(.*)$/.exec(line);
    if (!pair) throw new HashRelayError("KEY", `${file}:${index + 1}: not a "name = value" line`, "use the AWS credentials file format");
    if (section === profile) found[pair[1]!.toLowerCase()] = pair[2]!.trim();
  }
  const accessKeyId = found.aws_access_key_id;
  const secretAccessKey = found.aws_secret_access_key;
  if (!accessKeyId || !secretAccessKey) {
    throw new HashRelayError(
      "KEY",
      `${file}: profile [${profile}] lacks ${accessKeyId ? "aws_secret_access_key" : "aws_access_key_id"}`,
      `write [${profile}], then aws_access_key_id = … and aws_secret_access_key = …`,
    );
  }
  return { accessKeyId, secretAccessKey, ...(found.aws_session_token ? { sessionToken: found.aws_session_token } : {}) };
}

/** Reads a credentials file; throws KEY when it is missing, unreadable, readable by group or others, or malformed. */
export function readCredentialsFile(file: string, profile = "default"): S3Credentials {
  const text = readOwnerOnlyFile(file, {
    what: "credentials file",
    createHint: "create it with mode 0600",
    readHint: "run as the file's owner",
  });
  return parseCredentialsFile(text, file, profile);
}
