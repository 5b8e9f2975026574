// The lease server id a server keeps in its cache: made once (0600), the same after a restart, remade when unreadable.
import { expect, test } from "bun:test";
import fs from "node:fs";
import { hostname } from "node:os";
import path from "node:path";
import { S3Client } from "../io/s3-client.ts";
import { BucketLeases } from "./bucket-lease.ts";
import { DERIVED_DIR } from "./layout.ts";
import { tempRoots } from "./test-fixtures.ts";

const newCache = tempRoots("hr-lease-id-");

/** Leases of a server on `cache`; no request is sent (the client only names a store). */
async function leasesOf(cache: string): Promise<BucketLeases> {
  const credentials = { accessKeyId: "k", secretAccessKey: "s" };
  const s3 = new S3Client({ endpoint: "http://127.0.0.1:1", region: "r", bucket: "b", pathStyle: true, credentials, timeoutMs: 1 });
  const leases = new BucketLeases(s3);
  await leases.useServerIdOf(cache);
  return leases;
}

test("a server's lease owner: host, the id kept 0600 in its cache, pid; the same after a restart, another cache another id", async () => {
  const cache = await newCache();
  fs.mkdirSync(path.join(cache, DERIVED_DIR));
  const first = await leasesOf(cache);
  const file = path.join(cache, DERIVED_DIR, "lease-server-id");
  expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  const id = fs.readFileSync(file, "utf8").trim();
  expect(first.owner).toBe(`${hostname()}/${id}/${process.pid}`);
  expect((await leasesOf(cache)).owner).toBe(first.owner);
  const other = await newCache();
  fs.mkdirSync(path.join(other, DERIVED_DIR));
  expect((await leasesOf(other)).owner).not.toBe(first.owner);
});

test("an unreadable lease server id is made anew", async () => {
  const cache = await newCache();
  fs.mkdirSync(path.join(cache, DERIVED_DIR));
  fs.writeFileSync(path.join(cache, DERIVED_DIR, "lease-server-id"), "", { mode: 0o600 }); // a crash while it was made
  const leases = await leasesOf(cache);
  expect(leases.owner).toMatch(new RegExp(`^${hostname()}/[0-9a-f]{32}/${process.pid}$`));
});
