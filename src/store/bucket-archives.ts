// The bucket an S3 storage keeps its archives in: its keys (mirroring the local layout), and the start check that reaches it.
import type { BucketConfig } from "../config/model.ts";
import { HashRelayError } from "../errors.ts";
import { S3Client } from "../io/s3-client.ts";
import { readCredentialsFile, s3EnvironmentFrom } from "../io/s3-credentials.ts";
import { S3Error } from "../io/s3-error.ts";
import { BucketLeases } from "./bucket-lease.ts";

/** A request to the store without an answer (or, streamed, without new bytes) for this long fails with TIMEOUT. */
const S3_TIMEOUT_MS = 60_000;
/**
 * The same for what the server asks the store before it answers a client: the sync of the cache (before
 * an offer, and before ls, restore, verify), the bucket's trash for ls and restore, the lease of a
 * backup. A store that is down or hung (accepts connections, never answers) so costs an answer a few
 * seconds, not S3_TIMEOUT_MS: the cache answers the reads, a backup fails STORAGE.
 */
export const QUICK_TIMEOUT_MS = 3_000;

/**
 * One bucket and prefix holding a store's archives (docs/storage.md, "Object storage"):
 * `<prefix>/<client>/<file>` the archives, `<prefix>/.trash/<client>/<file>` superseded ones,
 * `<prefix>/.hashrelay/signed/<client>/<file>.json` their signed records (trashed: `….signed.json`
 * beside the trashed object), `<prefix>/.hashrelay/leases/<client>/<name>/<generation>` the upload leases,
 * `<prefix>/.hashrelay/holds/<client>/<name>.json` the holds (bucket-holds.ts),
 * `<prefix>/.hashrelay/audit/<server id>/<seq>.json` each server's audit lines (bucket-audit.ts).
 */
export class BucketArchives {
  /** Who stores which source now, among the servers on this bucket. */
  readonly leases: BucketLeases;
  private quickView: BucketArchives | null = null;

  constructor(
    readonly s3: S3Client,
    readonly config: BucketConfig,
    leases?: BucketLeases,
  ) {
    this.leases = leases ?? new BucketLeases(s3.withTimeout(QUICK_TIMEOUT_MS));
  }

  /** This bucket asked with QUICK_TIMEOUT_MS per request (the same leases): for what must not keep a client waiting. */
  quick(): BucketArchives {
    this.quickView ??= new BucketArchives(this.s3.withTimeout(QUICK_TIMEOUT_MS), this.config, this.leases);
    return this.quickView;
  }

  archiveKey(client: string, file: string): string {
    return this.key(client, file);
  }

  /** Where `client`'s archives of source `name` start: the listing prefix of that name's objects. */
  namePrefix(client: string, name: string): string {
    return this.key(client, `backup-${name}-`);
  }

  trashKey(client: string, file: string): string {
    return this.key(".trash", client, file);
  }

  trashPrefix(): string {
    return this.key(".trash", "");
  }

  signedKey(client: string, file: string): string {
    return this.key(".hashrelay", "signed", client, `${file}.json`);
  }

  trashedSignedKey(client: string, file: string): string {
    return this.key(".trash", client, `${file}.signed.json`);
  }

  /** The prefix of the lease generations of (client, name), ending in "/". */
  leaseBase(client: string, name: string): string {
    return this.key(".hashrelay", "leases", client, name, "");
  }

  /** The prefix of the audit lines of server `serverId` (all servers' with ""), ending in "/". */
  /** The prefix of the holds, ending in "/": `<prefix>/.hashrelay/holds/<client>/<name>.json` each. */
  holdsPrefix(): string {
    return this.key(".hashrelay", "holds", "");
  }

  holdKey(client: string, name: string): string {
    return this.key(".hashrelay", "holds", client, `${name}.json`);
  }

  auditPrefix(serverId: string): string {
    return this.key(".hashrelay", "audit", ...(serverId ? [serverId] : []), "");
  }

  /** The key of `parts` under the prefix (client ids, names and files are slugs: no "/" of their own). */
  private key(...parts: string[]): string {
    return [...(this.config.prefix ? [this.config.prefix] : []), ...parts].join("/");
  }
}

/**
 * Reaches the bucket `config` names, with endpoint, region and credentials from server.s3, else the
 * AWS_* variables of `env`, and proves access with one listing. Throws KEY (exit 2) when credentials
 * are missing or refused, CONFIG (exit 2) when the endpoint is unset or unreachable, the bucket is
 * missing, or the store refuses otherwise: a server must not start on a store it cannot use.
 */
export async function connectBucket(config: BucketConfig, env: Readonly<Record<string, string | undefined>>): Promise<BucketArchives> {
  const aws = s3EnvironmentFrom(env);
  const endpoint = config.endpoint ?? aws.endpoint;
  if (!endpoint)
    throw new HashRelayError(
      "CONFIG",
      `${config.url}: no endpoint`,
      "set server.s3.endpoint, or AWS_ENDPOINT_URL in the server's environment",
    );
  const credentials = config.credentials ? readCredentialsFile(config.credentials) : aws.credentials;
  if (!credentials) {
    const hint = "set server.s3.credentials to a 0600 credentials file, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY";
    throw new HashRelayError("KEY", `${config.url}: no credentials for the object store`, hint);
  }
  const region = config.region ?? aws.region ?? "us-east-1";
  const s3 = new S3Client({ endpoint, region, bucket: config.bucket, pathStyle: config.pathStyle, credentials, timeoutMs: S3_TIMEOUT_MS });
  try {
    await s3.checkAccess();
  } catch (err) {
    if (!(err instanceof S3Error) || err.credentialsWrong) throw err;
    const hint =
      err.s3Code === "NoSuchBucket"
        ? `create the bucket ${config.bucket} first (e.g. s3cmd mb s3://${config.bucket})`
        : `check server.s3.endpoint (${endpoint}), region (${region}) and that the store is up`;
    throw new HashRelayError("CONFIG", `cannot use ${config.url} at ${endpoint}: ${err.message}`, hint, { cause: err });
  }
  return new BucketArchives(s3, config);
}
