// Test helper: an e2e world whose server stores into a bucket of the test Ceph RGW, and the admin's own view of that bucket.
import fs from "node:fs";
import path from "node:path";
import { parseArchiveFileName } from "../archive/naming.ts";
import { S3Client } from "../io/s3-client.ts";
import type { CephRgw } from "./ceph-rgw.ts";
import { ensureBinary, writeServerConfig, type ClientReport, type World } from "./e2e-harness.ts";

/** Where a world's server stores: a bucket and a prefix of the test cluster. */
export interface BucketPlace {
  rgw: CephRgw;
  bucket: string;
  prefix: string;
}

/** Bucket options of a server config: a spoilt `secret`, trash rules, its own cache folder. */
export interface BucketOptions {
  secret?: string;
  trashFor?: string;
  trashVersions?: number;
  cache?: string;
}

/** A client of the test bucket, as an admin's own tool would be (no HashRelay code between it and the store). */
export function adminClient({ rgw, bucket }: BucketPlace): S3Client {
  return new S3Client({
    endpoint: rgw.endpoint,
    region: rgw.region,
    bucket,
    pathStyle: true,
    credentials: rgw.credentials,
    timeoutMs: 30_000,
  });
}

/**
 * Resolves once every object under `prefix` is `ageMs` old by its LastModified, which the server's trash
 * purge reads: a server started after that finds them due (it purges at start, then once a minute).
 */
export async function untilAged(s3: S3Client, prefix: string, ageMs: number): Promise<void> {
  let newest = 0;
  for await (const o of s3.listAllObjects(prefix)) newest = Math.max(newest, Date.parse(o.lastModified ?? "") || 0);
  await Bun.sleep(Math.max(0, newest + ageMs - Date.now()));
}

/** The keys under `prefix`, in key order. */
export async function objectKeys(place: BucketPlace, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of adminClient(place).listAllObjects(prefix)) keys.push(o.key);
  return keys;
}

/** The world's server config with server.storage in the bucket, credentials from a 0600 file. */
export function useBucket(world: World, place: BucketPlace, options: BucketOptions = {}): void {
  writeServerConfig(world, [{ name: "web01", key: world.clientPub }], { trashFor: options.trashFor ?? "48h" });
  const cap = options.trashVersions ? `    trashVersions: ${options.trashVersions}\n` : "";
  storeInBucket(world, place, { cache: options.cache ?? "./cache", secret: options.secret, s3Lines: cap });
}

/** How a server config stores in the bucket of a BucketPlace. */
export interface BucketStorage {
  /** server.cache as written. */
  cache: string;
  /** The secret written to the credentials file (default: the right one). */
  secret?: string;
  /** More lines under server.s3, each ending in "\n". */
  s3Lines?: string;
}

/**
 * Rewrites the server config of `world` (as writeServerConfig wrote it) to store in the place's bucket:
 * server.storage s3://bucket/prefix, server.s3 with the cluster's endpoint and region and a 0600
 * credentials file in the world's folder, server.cache.
 */
export function storeInBucket(world: World, { rgw, bucket, prefix }: BucketPlace, storage: BucketStorage): void {
  const credentials = path.join(world.dir, "s3.credentials");
  const secret = storage.secret ?? rgw.credentials.secretAccessKey;
  fs.writeFileSync(credentials, `[default]\naws_access_key_id = ${rgw.credentials.accessKeyId}\naws_secret_access_key = ${secret}\n`, {
    mode: 0o600,
  });
  const s3 = `  storage: s3://${bucket}/${prefix}\n  s3:\n    endpoint: ${rgw.endpoint}\n    region: ${rgw.region}\n    credentials: ./s3.credentials\n${storage.s3Lines ?? ""}  cache: ${storage.cache}\n`;
  fs.writeFileSync(world.serverConfig, fs.readFileSync(world.serverConfig, "utf8").replace("  storage: ./nas\n", s3));
}

/** `hashrelay client --once --json`, not blocking the test (it may act on the store meanwhile). */
export async function backup(world: World): Promise<{ status: number; report: ClientReport; stderr: string }> {
  const child = Bun.spawn([ensureBinary(), "client", "--once", "--json", "--config", world.clientConfig], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, status] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { status, report: JSON.parse(stdout) as ClientReport, stderr };
}

/**
 * `keys` (archive files or keys, their `.signed.json` records among them) oldest archive first, each
 * record after its archive. A bucket lists keys in byte order, and archive names carry the second
 * before the minute (backup-NAME-SS-MM-HH-…): byte order is not time order across a minute.
 */
export function byTime(keys: readonly string[]): string[] {
  const at = (key: string) => parseArchiveFileName(path.basename(key).replace(/\.signed\.json$/, ""))?.at.getTime() ?? 0;
  return [...keys].sort((x, y) => at(x) - at(y) || (x < y ? -1 : x > y ? 1 : 0));
}
