// The S3 client and a compose plan against a real Ceph RGW (one cluster for the file, ~13 s to start); skipped with a banner where Ceph cannot start.
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { type ComposePiece, type PartSource, planCompose } from "../archive/compose-plan.ts";
import { startCephRgw } from "../testing/ceph-rgw.ts";
import { S3Client } from "./s3-client.ts";
import { composeObject, copyObjectAnySize } from "./s3-compose.ts";
import { S3Error } from "./s3-error.ts";

const MiB = 1024 * 1024;
const rgw = await startCephRgw();
if (rgw) console.log(`ceph: cluster up in ${rgw.startSeconds.toFixed(1)} s`);
afterAll(() => rgw?.stop());

/** A client on `bucket` (created) of the test cluster. */
async function clientFor(bucket: string, options: { pathStyle?: boolean; secret?: string } = {}): Promise<S3Client> {
  const pathStyle = options.pathStyle ?? true;
  // virtual-host style needs a name for the bucket: *.localhost resolves to loopback
  const endpoint = pathStyle ? rgw!.endpoint : rgw!.endpoint.replace("127.0.0.1", "localhost");
  const credentials = { ...rgw!.credentials, ...(options.secret ? { secretAccessKey: options.secret } : {}) };
  const client = new S3Client({ endpoint, region: rgw!.region, bucket, pathStyle, credentials, timeoutMs: 30_000 });
  if (!options.secret) await client.createBucket();
  return client;
}

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const bytes = (s: string) => new TextEncoder().encode(s);

/** What S3 code `promise` was refused with. */
async function refusal(promise: Promise<unknown>): Promise<S3Error> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(err instanceof S3Error)) throw new Error(`expected an S3Error, got ${String(err)}`);
  return err;
}

describe.skipIf(!rgw)("S3Client against a real Ceph RGW", () => {
  test("put, get, ranged get, head, list in pages, delete; keys with spaces and signs", async () => {
    const s3 = await clientFor("objects");
    const keys = ["a/one.txt", "a/two words+plus.txt", "a/ü=ä&(x)", "b/other"];
    for (const key of keys) await s3.putObject(key, bytes(`body of ${key}`));
    expect(text(await s3.getBytes("a/two words+plus.txt"))).toBe("body of a/two words+plus.txt");
    const ranged = await s3.getObject("a/one.txt", { start: 8, end: 11 });
    expect([ranged.size, ranged.objectSize, text(new Uint8Array(await new Response(ranged.body).arrayBuffer()))]).toEqual([3, 17, "a/o"]);
    expect(await s3.headObject("a/ü=ä&(x)")).toMatchObject({ size: bytes("body of a/ü=ä&(x)").length });
    expect(await s3.headObject("a/missing")).toBeNull();
    const first = await s3.listObjects("a/", { maxKeys: 2 });
    expect(first.objects.map((o) => o.key)).toEqual(["a/one.txt", "a/two words+plus.txt"]);
    expect(first.nextToken).toBeString();
    const second = await s3.listObjects("a/", { maxKeys: 2, continuationToken: first.nextToken! });
    expect([second.objects.map((o) => o.key), second.nextToken]).toEqual([["a/ü=ä&(x)"], undefined]);
    const all: string[] = [];
    for await (const o of s3.listAllObjects("", 2)) all.push(o.key);
    expect(all).toEqual([...keys].sort());
    await s3.copyObject("a/one.txt", "c/copy");
    expect(text(await s3.getBytes("c/copy"))).toBe("body of a/one.txt");
    await s3.deleteObject("a/one.txt");
    await s3.deleteObject("a/never-was");
    expect(await s3.headObject("a/one.txt")).toBeNull();
    expect((await refusal(s3.getBytes("a/one.txt"))).s3Code).toBe("NoSuchKey");
  });

  test("virtual-host style URLs reach the same objects", async () => {
    const s3 = await clientFor("vhost-bucket", { pathStyle: false });
    await s3.putObject("k/v", bytes("virtual host"));
    expect(text(await s3.getBytes("k/v"))).toBe("virtual host");
    expect(text(await (await clientFor("vhost-bucket")).getBytes("k/v"))).toBe("virtual host");
  });

  test("wrong credentials are told apart: KEY, credentialsWrong", async () => {
    await clientFor("creds");
    const wrongSecret = await refusal((await clientFor("creds", { secret: "not-the-secret" })).checkAccess());
    expect([wrongSecret.s3Code, wrongSecret.credentialsWrong, wrongSecret.code, wrongSecret.status]).toEqual([
      "SignatureDoesNotMatch",
      true,
      "KEY",
      403,
    ]);
    const s3 = await clientFor("creds");
    const unknownKey = new S3Client({ ...s3.target, credentials: { accessKeyId: "NOSUCHKEY0000000000", secretAccessKey: "x" } });
    const refused = await refusal(unknownKey.checkAccess());
    expect([refused.s3Code, refused.credentialsWrong, refused.exitCode]).toEqual(["InvalidAccessKeyId", true, 2]);
    expect(refused.requestId).not.toBe("");
  });

  test("a part under 5 MiB that is not the last is refused by RGW (EntityTooSmall)", async () => {
    const s3 = await clientFor("small-parts");
    const uploadId = await s3.createMultipartUpload("small");
    const parts = [
      await s3.uploadPart("small", uploadId, 1, randomBytes(MiB)),
      await s3.uploadPart("small", uploadId, 2, randomBytes(MiB)),
    ];
    expect((await refusal(s3.completeMultipartUpload("small", uploadId, parts))).s3Code).toBe("EntityTooSmall");
    await s3.abortMultipartUpload("small", uploadId);
    expect(await s3.headObject("small")).toBeNull();
  });

  test("an aborted multipart upload leaves no object and no upload listed", async () => {
    const s3 = await clientFor("aborts");
    const uploadId = await s3.createMultipartUpload("x/aborted");
    await s3.uploadPart("x/aborted", uploadId, 1, randomBytes(5 * MiB));
    expect((await s3.listMultipartUploads("x/")).map((u) => u.uploadId)).toEqual([uploadId]);
    await s3.abortMultipartUpload("x/aborted", uploadId);
    expect(await s3.listMultipartUploads("x/")).toEqual([]);
    expect(await s3.headObject("x/aborted")).toBeNull();
    await s3.abortMultipartUpload("x/aborted", uploadId); // aborting again is no error
  });

  test("a next archive composed from a gzip multi-member object: byte-exact, gzip -t passes", async () => {
    const s3 = await clientFor("archives");
    const { old, next, pieces } = archivePair();
    await s3.putObject("web01/backup-www-old.tar.gz", old.bytes);
    expect(await s3.headObject("web01/backup-www-old.tar.gz")).toMatchObject({ size: old.bytes.length }); // over the 8 MiB XML limit
    const plan = planCompose(pieces);
    expect(plan.parts.some((p) => p.kind === "copy") && plan.parts.some((p) => p.kind === "upload")).toBe(true);
    expect(plan.parts.slice(0, -1).every((p) => (p.kind === "copy" ? p.end - p.start : p.length) >= 5 * MiB)).toBe(true);
    const began = performance.now();
    await composeObject(
      s3,
      "web01/backup-www-next.tar.gz",
      "web01/backup-www-old.tar.gz",
      plan,
      sourceBytes(old.bytes, pieces, next.newMembers),
    );
    const seconds = (performance.now() - began) / 1000;
    const stored = await s3.getBytes("web01/backup-www-next.tar.gz");
    expect(Buffer.compare(Buffer.from(stored), Buffer.from(next.bytes))).toBe(0);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hashrelay-s3-"));
    try {
      fs.writeFileSync(path.join(dir, "next.tar.gz"), stored);
      expect(spawnSync("gzip", ["-t", path.join(dir, "next.tar.gz")]).status).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true });
    }
    console.log(
      `ceph: composed ${(plan.size / MiB).toFixed(1)} MiB in ${plan.parts.length} parts, ${seconds.toFixed(2)} s: ` +
        `${(plan.bytesCopied / MiB).toFixed(1)} MiB copied inside the store, ${(plan.bytesUploaded / MiB).toFixed(1)} MiB uploaded`,
    );
  });

  test("a compose that fails midway is aborted: the old object intact, no new key, no upload left", async () => {
    const { s3, old, compose } = await composeWith("failed-compose", (served) => {
      if (served > 3) throw new Error("the client went away");
    });
    await expect(compose).rejects.toThrow("the client went away");
    expect(await s3.headObject("next.tar.gz")).toBeNull();
    expect(await s3.listMultipartUploads("")).toEqual([]);
    expect(Buffer.compare(Buffer.from(await s3.getBytes("old.tar.gz")), Buffer.from(old.bytes))).toBe(0);
  });

  test("an object over the single-copy limit is copied in ranged parts, byte-exact; one under it in one CopyObject", async () => {
    const s3 = await clientFor("copy-in-parts");
    const body = randomBytes(25 * MiB + 123);
    await s3.putObject("big", body);
    await copyObjectAnySize(s3, "big", "trash/big", body.length, 10 * MiB); // three parts of ~8.3 MiB
    expect(Buffer.from(await s3.getBytes("trash/big")).equals(body)).toBe(true);
    expect((await s3.headObject("trash/big"))!.etag).toMatch(/-3"$/); // a multipart object of three parts
    await copyObjectAnySize(s3, "big", "trash/whole", body.length);
    expect((await s3.headObject("trash/whole"))!.etag).not.toContain("-");
    expect(await s3.listMultipartUploads("")).toEqual([]);
  });

  test("a copy in parts that fails (the source shorter than told) is aborted: no new key, no upload left, the source intact", async () => {
    const s3 = await clientFor("copy-in-parts-failed");
    const body = randomBytes(21 * MiB);
    await s3.putObject("big", body);
    await expect(copyObjectAnySize(s3, "big", "trash/big", 31 * MiB, 10 * MiB)).rejects.toThrow();
    expect(await s3.headObject("trash/big")).toBeNull();
    expect(await s3.listMultipartUploads("")).toEqual([]);
    expect(Buffer.from(await s3.getBytes("big")).equals(body)).toBe(true);
  });

  test("a silent store: the request fails with TIMEOUT, and succeeds once the store answers again", async () => {
    const s3 = await clientFor("gateway-paused");
    await s3.putObject("k", bytes("still here"));
    const impatient = new S3Client({ ...s3.target, timeoutMs: 500 });
    rgw!.pauseGateway(true);
    try {
      await expect(impatient.getBytes("k")).rejects.toMatchObject({ s3Code: "Timeout", code: "TIMEOUT" });
    } finally {
      rgw!.pauseGateway(false);
    }
    // the store's first answers after it resumes may be slow on a loaded machine: a patient client asks
    expect(text(await s3.getBytes("k"))).toBe("still here");
  });

  test("the store killed mid-compose: a clear error, the old object intact, the leftover upload found and aborted", async () => {
    const { s3, old, compose } = await composeWith("gateway-killed", async (served) => {
      if (served === 3) await rgw!.killGateway();
    });
    await expect(compose).rejects.toMatchObject({ s3Code: "NetworkError", code: "STORAGE" });
    await rgw!.restartGateway();
    expect(await s3.headObject("next.tar.gz")).toBeNull();
    expect(Buffer.compare(Buffer.from(await s3.getBytes("old.tar.gz")), Buffer.from(old.bytes))).toBe(0);
    const leftovers = await s3.listMultipartUploads("");
    expect(leftovers.map((u) => u.key)).toEqual(["next.tar.gz"]); // its abort could not reach the store
    for (const upload of leftovers) await s3.abortMultipartUpload(upload.key, upload.uploadId);
    expect(await s3.listMultipartUploads("")).toEqual([]);
  });
});

/**
 * Puts an old archive as old.tar.gz in a new bucket and starts composing next.tar.gz from it;
 * `beforeSource` runs before each upload source is read, with how many were read so far (1 first).
 */
async function composeWith(bucket: string, beforeSource: (served: number) => void | Promise<void>) {
  const s3 = await clientFor(bucket);
  const { old, next, pieces } = archivePair();
  await s3.putObject("old.tar.gz", old.bytes);
  let served = 0;
  const bytesOf = async (source: PartSource) => {
    await beforeSource(++served);
    return sourceBytes(old.bytes, pieces, next.newMembers)(source);
  };
  return { s3, old, compose: composeObject(s3, "next.tar.gz", "old.tar.gz", planCompose(pieces), bytesOf) };
}

interface Archive {
  bytes: Uint8Array;
  newMembers: Uint8Array[];
}

/**
 * An old archive of 240 gzip members (~150 KiB each, incompressible: ~35 MiB) and its next version:
 * members 20-21 and 120 replaced, 60 dropped, one added at 200; the pieces say which bytes are old.
 */
function archivePair(): { old: Archive; next: Archive; pieces: ComposePiece[] } {
  const member = (size: number) => Bun.gzipSync(randomBytes(size), { level: 6 });
  const oldMembers = Array.from({ length: 240 }, (_, i) => member(140_000 + i * 100));
  const offsets = [0];
  for (const m of oldMembers) offsets.push(offsets.at(-1)! + m.length);
  const pieces: ComposePiece[] = [];
  const newMembers: Uint8Array[] = [];
  const nextMembers: Uint8Array[] = [];
  for (const [i, m] of oldMembers.entries()) {
    if (i === 200) {
      const added = member(90_000);
      pieces.push({ kind: "new", length: added.length });
      newMembers[pieces.length - 1] = added;
      nextMembers.push(added);
    }
    if (i === 60) continue;
    if (i === 20 || i === 21 || i === 120) {
      const replaced = member(160_000);
      pieces.push({ kind: "new", length: replaced.length });
      newMembers[pieces.length - 1] = replaced;
      nextMembers.push(replaced);
    } else {
      pieces.push({ kind: "old", start: offsets[i]!, end: offsets[i + 1]! });
      nextMembers.push(m);
    }
  }
  return { old: { bytes: Buffer.concat(oldMembers), newMembers: [] }, next: { bytes: Buffer.concat(nextMembers), newMembers }, pieces };
}

/** Upload sources read from the old archive held here and from the new members. */
function sourceBytes(old: Uint8Array, pieces: readonly ComposePiece[], newMembers: readonly Uint8Array[]) {
  return (source: PartSource): Uint8Array => {
    if (source.kind === "old") return old.subarray(source.start, source.end);
    if (pieces[source.piece]?.kind !== "new") throw new Error(`piece ${source.piece} is not new`);
    return newMembers[source.piece]!.subarray(source.start, source.end);
  };
}
