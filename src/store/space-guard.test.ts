// The store shares its disk: quotas, server.minFree, abandoned staging released when room is needed, uploads per client bounded.
import { afterEach, describe, expect, test } from "bun:test";
import { readdirSync, statSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { archiveFileName } from "../archive/naming.ts";
import { HashRelayError } from "../errors.ts";
import { MAX_UPLOADS_PER_CLIENT, Store, type StoreLog } from "./store.ts";
import { buildArchive, offer, seededBytes, sendNeeded, tempDir, uploadArchive, type TestArchive } from "./test-fixtures.ts";

const MiB = 1024 * 1024;
const T0 = Date.UTC(2026, 0, 10, 3, 0, 0);
const fileAt = (name: string, minute = 0) => archiveFileName(name, new Date(T0 + minute * 60_000));

const roots: string[] = [];
const stores: Store[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
  for (const root of roots.splice(0)) await rm(root, { recursive: true, force: true });
});

/** Bytes of every file under `dir`: what the store takes on its (pretend) disk. */
function bytesUnder(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true }))
    if (entry.isFile()) total += statSync(join(entry.parentPath, entry.name)).size;
  return total;
}

/**
 * A store on a pretend disk with `roomMiB` MiB free once open (free = capacity - what the root holds),
 * with `quotas` (MiB) and `minFreeMiB` kept free.
 */
async function storeOnDisk(opts: { roomMiB: number; minFreeMiB: number; quotas?: Record<string, number>; now?: () => number }) {
  const root = await tempDir("hr-space-");
  roots.push(root);
  const events: { event: string; fields: Record<string, unknown> }[] = [];
  const log: StoreLog = (_level, event, fields) => events.push({ event, fields });
  let capacity = Infinity;
  const store = await Store.open(root, {
    now: opts.now ?? (() => T0),
    log,
    freeSpace: async () => capacity - bytesUnder(root),
    space: {
      minFreeBytes: opts.minFreeMiB * MiB,
      quotas: new Map(Object.entries(opts.quotas ?? {}).map(([client, mib]) => [client, mib * MiB])),
    },
  });
  stores.push(store);
  capacity = bytesUnder(root) + opts.roomMiB * MiB;
  return { store, root, events };
}

/** `mib` MiB of incompressible 64 KiB chunks. */
function archiveOf(seed: string, mib: number): TestArchive {
  return buildArchive(Array.from({ length: mib * 16 }, (_, i) => seededBytes(`${seed}-${i}`, 64 * 1024)));
}

/** A whole upload, as uploadArchive; on failure the upload is aborted (as a session that ends does), then the error rethrown. */
async function tryUpload(store: Store, client: string, file: string, archive: TestArchive): Promise<void> {
  const { upload, needed, header } = offer(store, client, file, archive);
  try {
    await sendNeeded(upload, archive, needed);
    await upload.commit(header);
  } catch (err) {
    await upload.abort();
    throw err;
  }
}

async function codeOf(promise: Promise<unknown>): Promise<HashRelayError> {
  const err = await promise.then(
    () => new Error("expected a refusal, nothing was thrown"),
    (e: unknown) => e,
  );
  if (!(err instanceof HashRelayError)) throw err;
  return err;
}

describe("quota", () => {
  test("archives, trash and staging count; staging stops at the quota with QUOTA and the stored archive stays", async () => {
    const { store } = await storeOnDisk({ roomMiB: 100, minFreeMiB: 0, quotas: { web01: 3 } });
    const first = archiveOf("a", 1);
    await uploadArchive(store, "web01", fileAt("docs"), first);
    const refused = await codeOf(tryUpload(store, "web01", fileAt("docs", 1), archiveOf("b", 3)));
    expect(refused.code).toBe("QUOTA");
    expect(refused.message).toMatch(
      /^web01 uses .* of its 3\.0 MiB quota \(archives 1\.0 MiB, trash 0 B, staging .*\): chunks of docs needs/,
    );
    expect(store.latest("web01", "docs")!.file).toBe(fileAt("docs"));
    const usage = await store.usage("web01");
    expect(usage.archives).toBe(first.bytes.length);
    expect(usage.staging).toBeGreaterThan(MiB);
    expect(usage.total).toBeLessThanOrEqual(3 * MiB);
    expect(store.spaceReport().refusals).toEqual([{ client: "web01", code: "QUOTA", count: 1 }]);
  });

  test("the offer of a client with its quota used up is refused QUOTA, once its own abandoned staging could not make room", async () => {
    const { store } = await storeOnDisk({ roomMiB: 100, minFreeMiB: 0, quotas: { web01: 4 } });
    await uploadArchive(store, "web01", fileAt("docs"), archiveOf("a", 1));
    await codeOf(tryUpload(store, "web01", fileAt("docs", 1), archiveOf("b", 4)));
    // the refused upload's staging gives way to the client's next upload
    await store.admitUpload("web01", "small");
    expect(store.stagingFiles("web01")).toEqual([]);
    await uploadArchive(store, "web01", fileAt("etc", 2), archiveOf("c", 1));
    await uploadArchive(store, "web01", fileAt("etc", 3), archiveOf("d", 1)); // the first etc goes to the trash: still counted
    const full = await codeOf(store.admitUpload("web01", "docs"));
    expect(full.code).toBe("QUOTA");
    expect(full.message).toContain("trash 1.0 MiB");
    // another client is not held to web01's quota
    await uploadArchive(store, "db01", fileAt("docs"), archiveOf("e", 4));
  });

  test("a lowered quota applies to the next request for room", async () => {
    const { store } = await storeOnDisk({ roomMiB: 100, minFreeMiB: 0 });
    await uploadArchive(store, "web01", fileAt("docs"), archiveOf("a", 2));
    store.setSpaceRules({ minFreeBytes: 0, quotas: new Map([["web01", MiB]]) });
    expect((await codeOf(store.admitUpload("web01", "docs"))).code).toBe("QUOTA");
  });
});

describe("server.minFree and abandoned staging", () => {
  test("staging stops at minFree with NO_SPACE; the reserve stays free", async () => {
    const { store, root } = await storeOnDisk({ roomMiB: 3, minFreeMiB: 1 });
    const before = bytesUnder(root);
    const refused = await codeOf(tryUpload(store, "db01", fileAt("docs"), archiveOf("big", 4)));
    expect(refused.code).toBe("NO_SPACE");
    expect(refused.message).toMatch(/^the server's storage has .* free and keeps 1\.0 MiB free \(server\.minFree\)/);
    expect(bytesUnder(root) - before).toBeLessThanOrEqual(2 * MiB);
    expect(store.stagingFiles("db01").length).toBe(1);
  });

  test("other clients' abandoned staging is released, oldest first and no more than needed, when an offer needs the room", async () => {
    let now = T0;
    const { store, events } = await storeOnDisk({ roomMiB: 3.5, minFreeMiB: 1, now: () => now });
    // two uploads given up half way (connection lost), db01's a minute before mail's
    for (const client of ["db01", "mail"]) {
      const archive = archiveOf(client, 2);
      const { upload, needed } = offer(store, client, fileAt("docs"), archive);
      await sendNeeded(
        upload,
        archive,
        needed.map((need, i) => need && i < 16),
      );
      await upload.abort();
      now += 60_000;
    }
    const [oldest] = store.stagingFiles("db01");
    expect(store.stagingFiles("mail").length).toBe(1);
    await store.admitUpload("web01", "www"); // 0.5 MiB short: db01's file (1 MiB) is enough
    expect(store.stagingFiles("db01")).toEqual([]);
    expect(store.stagingFiles("mail").length).toBe(1);
    expect(events).toContainEqual({
      event: "staging.removed",
      fields: { client: "db01", item: oldest!, reason: "space needed", bytes: expect.any(Number) },
    });
    expect(store.spaceReport().releasedBytes).toBeGreaterThan(MiB);
    // the upload itself finds its room the same way: mail's file goes too
    await uploadArchive(store, "web01", fileAt("www"), archiveOf("small", 1));
    expect(store.stagingFiles("mail")).toEqual([]);
  });

  test("staging an upload relies on is never released: the offer is NO_SPACE until that upload ends", async () => {
    const { store } = await storeOnDisk({ roomMiB: 3, minFreeMiB: 1 });
    const big = archiveOf("big", 4);
    await codeOf(tryUpload(store, "db01", fileAt("docs"), big));
    // db01 resumes: the chunks of its abandoned staging are not asked again, that file is in use
    const resumed = offer(store, "db01", fileAt("docs", 1), big);
    expect(resumed.needed.filter((n) => !n).length).toBeGreaterThan(0);
    expect((await codeOf(store.admitUpload("web01", "www"))).code).toBe("NO_SPACE");
    await resumed.upload.abort();
    await store.admitUpload("web01", "www");
  });
});

describe("uploads per client", () => {
  test(`a client has at most ${MAX_UPLOADS_PER_CLIENT} uploads in progress; another client is not held to it`, async () => {
    const { store } = await storeOnDisk({ roomMiB: 100, minFreeMiB: 0 });
    const uploads = Array.from({ length: MAX_UPLOADS_PER_CLIENT }, (_, i) => store.beginUpload("web01", `src${i}`));
    const busy = await codeOf(Promise.resolve().then(() => store.beginUpload("web01", "more")));
    expect(busy.code).toBe("BUSY");
    expect(busy.message).toBe(`web01 already has ${MAX_UPLOADS_PER_CLIENT} uploads in progress (src0, src1)`);
    const other = store.beginUpload("db01", "src0");
    await uploads[0]!.abort();
    const next = store.beginUpload("web01", "more");
    for (const upload of [other, next, ...uploads.slice(1)]) await upload.abort();
  });
});
