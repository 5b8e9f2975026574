// Test helper: a bucket of the test Ceph cluster, as an admin's own tool reaches it and as a server config stores in it.
import fs from "node:fs";
import path from "node:path";
import { S3Client } from "../io/s3-client.ts";
import type { CephRgw } from "./ceph-rgw.ts";
import type { World } from "./e2e-harness.ts";

/** A client of `bucket` on `rgw`, as an admin's own tool would be (no HashRelay code between it and the store). */
export function bucketClient(rgw: CephRgw, bucket: string): S3Client {
  return new S3Client({
    endpoint: rgw.endpoint,
    region: rgw.region,
    bucket,
    pathStyle: true,
    credentials: rgw.credentials,
    timeoutMs: 30_000,
  });
}

/** Where and how a server config stores in a bucket. */
export interface BucketStorage {
  bucket: string;
  prefix: string;
  /** server.cache as written. */
  cache: string;
  /** The secret written to the credentials file (default: the right one). */
  secret?: string;
  /** More lines under server.s3, each ending in "\n". */
  s3Lines?: string;
}

/**
 * Rewrites the server config of `world` (as writeServerConfig wrote it) to store in the bucket:
 * server.storage s3://bucket/prefix, server.s3 with the cluster's endpoint and region and a 0600
 * credentials file in the world's folder, server.cache.
 */
export function storeInBucket(world: World, rgw: CephRgw, storage: BucketStorage): void {
  const credentials = path.join(world.dir, "s3.credentials");
  const secret = storage.secret ?? rgw.credentials.secretAccessKey;
  fs.writeFileSync(credentials, `[default]\naws_access_key_id = ${rgw.credentials.accessKeyId}\naws_secret_access_key = ${secret}\n`, {
    mode: 0o600,
  });
  const s3 = `  storage: s3://${storage.bucket}/${storage.prefix}\n  s3:\n    endpoint: ${rgw.endpoint}\n    region: ${rgw.region}\n    credentials: ./s3.credentials\n${storage.s3Lines ?? ""}  cache: ${storage.cache}\n`;
  fs.writeFileSync(world.serverConfig, fs.readFileSync(world.serverConfig, "utf8").replace("  storage: ./nas\n", s3));
}
