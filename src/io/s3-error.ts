// S3's error answers as one typed error: S3's code and message, the HTTP status, the request id; wrong credentials told apart.
import { HashRelayError } from "../errors.ts";
import { xmlRoot, xmlValue } from "./s3-xml.ts";

/** S3 codes that mean the access key or secret is wrong (not a missing permission, not a clock skew). */
const CREDENTIALS_WRONG = new Set(["InvalidAccessKeyId", "SignatureDoesNotMatch"]);

/** What S3 said, for logs and for callers that branch on `s3Code` (NoSuchKey, EntityTooSmall, NoSuchUpload, …). */
export interface S3ErrorFacts {
  s3Code: string;
  s3Message: string;
  status: number;
  requestId: string;
  operation: string;
}

/**
 * An error answer from the object store. Its HashRelay code is KEY (exit 2) when the credentials are
 * wrong, TIMEOUT when the store did not answer in time, STORAGE otherwise.
 */
export class S3Error extends HashRelayError {
  readonly s3Code: string;
  readonly s3Message: string;
  readonly status: number;
  readonly requestId: string;

  constructor(facts: S3ErrorFacts, options?: { cause?: unknown }) {
    const wrongCredentials = CREDENTIALS_WRONG.has(facts.s3Code);
    const code = wrongCredentials ? "KEY" : facts.s3Code === "Timeout" ? "TIMEOUT" : "STORAGE";
    const hint = wrongCredentials
      ? "the object store refused the credentials: check the access key and secret (file or AWS_* variables)"
      : "";
    const request = facts.requestId ? `, request ${facts.requestId}` : "";
    super(
      code,
      `object store: ${facts.operation} failed: ${facts.s3Code} (HTTP ${facts.status}${request}): ${facts.s3Message}`,
      hint,
      options,
    );
    this.name = "S3Error";
    this.s3Code = facts.s3Code;
    this.s3Message = facts.s3Message;
    this.status = facts.status;
    this.requestId = facts.requestId;
  }

  /** True when the access key is unknown or the signature made with the secret does not match. */
  get credentialsWrong(): boolean {
    return CREDENTIALS_WRONG.has(this.s3Code);
  }
}

/**
 * The error an S3 answer carries: from its XML `<Error>` body when there is one, else from the status
 * alone (a HEAD has no body). `body` is "" when there was none.
 */
export function s3ErrorFromAnswer(operation: string, status: number, body: string, requestIdHeader: string | null): S3Error {
  const isError = xmlRoot(body) === "Error";
  return new S3Error({
    operation,
    status,
    s3Code: (isError && xmlValue(body, "Code")) || statusCode(status),
    s3Message: (isError && xmlValue(body, "Message")) || (isError ? "no message" : `HTTP ${status} without an error document`),
    requestId: (isError && xmlValue(body, "RequestId")) || requestIdHeader || "",
  });
}

/** S3's code for a status whose answer has no body. */
function statusCode(status: number): string {
  return (
    ({ 403: "AccessDenied", 404: "NotFound", 412: "PreconditionFailed", 416: "InvalidRange" } as Record<number, string>)[status] ??
    `HTTP${status}`
  );
}
