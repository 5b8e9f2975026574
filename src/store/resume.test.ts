import { afterEach, describe, expect, spyOn, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { readdir, readFile, rm, stat, truncate, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { archiveFileName } from "../archive/naming.ts";
import * as archiveFile from "./archive-file.ts";
import { HashRelayError } from "../errors.ts";
import { OpenFiles, Store, type StoreLog } from "./store.ts";
import { buildArchive, offer, seededBytes, sendNeeded, tempDir, uploadArchive, type TestArchive } from "./test-fixtures.ts";

const HOUR = 3600_000;
const T0 = Date.UTC(2026, 0, 10, 3, 0, 0);
const fileAt = (name: string, ms: number) => archiveFileName(name, new Date(ms));

const roots: string[] = [];
const stores: Store[] = [];
async function newRoot(): Promise<string> {
  const root = await tempDir("hr-resume-");
  roots.push(root);
  return root;
}
async function openStore(root: string, opts: Parameters<typeof Store.open>[1] = {}): Promise<Store> {
  const store = await Store.open(root, { now: () => T0, ...opts });
  stores.push(store);
  return store;
}
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
  for (const root of roots.splice(0)) await rm(root, { recursive: true, force: true });
});

function recorder(): { log: StoreLog; events: { level: string; event: string; fields: Record<string, unknown> }[] } {
  const events: { level: string; event: string; fields: Record<string, unknown> }[] = [];
  return { events, log: (level, event, fields) => events.push({ level, event, fields }) };
}

/** `count` distinct incompressible chunks of `size` bytes. */
function randomRaws(seed: string, count: number, size = 20 * 1024): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => seededBytes(`${seed}-${i}`, size));
}

const indicesOf = (flags: readonly boolean[]) => flags.flatMap((n, i) => (n ? [i] : []));
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

async function readBytes(path: string): Promise<Uint8Array> {
  return new Uint8Array(await readFile(path));
}

/** Starts an upload of `archive`, sends the chunks at `indices` (all of them needed), and leaves the upload open. */
async function sendSome(store: Store, client: string, file: string, archive: TestArchive, indices: number[]) {
  const started = offer(store, client, file, archive);
  for (const i of indices) {
    expect(started.needed[i]).toBe(true);
    await started.upload.addChunk(i, archive.members[i]!);
  }
  return started;
}

/** Dates every staging file of `client` as last written at `ms` (the injected clock's time, whatever the machine's clock says). */
async function touchStaging(root: string, client: string, ms: number): Promise<void> {
  for (const item of await stagingDir(root, client)) await utimes(join(root, ".hashrelay", "staging", client, item), ms / 1000, ms / 1000);
}

async function stagingDir(root: string, client: string): Promise<string[]> {
  return (await readdir(join(root, ".hashrelay", "staging", client)).catch(() => [])).sort();
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<HashRelayError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(HashRelayError);
  expect((err as HashRelayError).code).toBe(code as HashRelayError["code"]);
  return err as HashRelayError;
}

/** A store where an upload of a 12-chunk archive (seeded by `seed`) sent chunks 0-4 to web01 and was aborted. */
async function abortedAfterFive(seed: string) {
  const root = await newRoot();
  const store = await openStore(root);
  const archive = buildArchive(randomRaws(seed, 12));
  const file = fileAt("etc", T0);
  await (await sendSome(store, "web01", file, archive, range(0, 5))).upload.abort();
  return { root, store, archive, file };
}

describe("an interrupted upload resumes", () => {
  test("aborted after K chunks: the next upload of the same archive needs only the chunks not staged, and the file is exact", async () => {
    const { root, store, archive, file } = await abortedAfterFive("abort");
    expect((await stagingDir(root, "web01")).length).toBe(1);

    const { needed, entry } = await uploadArchive(store, "web01", file, archive);
    expect(indicesOf(needed)).toEqual(range(5, 12));
    expect(entry.archiveId).toBe(archive.archiveId);
    expect(await readBytes(join(root, "web01", file))).toEqual(archive.bytes);
    expect(spawnSync("gzip", ["-t", join(root, "web01", file)]).status).toBe(0);
    // all its chunks are stored now: the staging file went with the commit
    expect(await stagingDir(root, "web01")).toEqual([]);
  });

  test("each member's SHA-256 is taken once, at staging: the commit copies staged and pooled members checked by their XXH3-64", async () => {
    const { root, store, archive, file } = await abortedAfterFive("once");
    const sha256 = spyOn(archiveFile, "sha256");
    try {
      await uploadArchive(store, "web01", file, archive);
      // members 0-4 come from the pool (the aborted upload's staging file), 5-11 from this upload's
      const hashedOf = (member: Uint8Array) => sha256.mock.calls.filter(([bytes]) => Buffer.from(bytes).equals(member)).length;
      expect(archive.members.map(hashedOf)).toEqual([0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1]);
    } finally {
      sha256.mockRestore();
    }
    expect(await readBytes(join(root, "web01", file))).toEqual(archive.bytes);
  });

  test("the connection lost twice: each resumed upload adds what it received, a later archive of another name reuses staged chunks too", async () => {
    const root = await newRoot();
    const store = await openStore(root);
    const archive = buildArchive(randomRaws("twice", 10));
    const file = fileAt("etc", T0);
    await (await sendSome(store, "web01", file, archive, [0, 1, 2])).upload.abort();
    const second = await sendSome(store, "web01", file, archive, [3, 4, 5, 6]);
    expect(indicesOf(second.needed)).toEqual(range(3, 10));
    await second.upload.abort();
    // another source of the same client with chunk 8 and one new chunk: 8 is not staged, 7 is
    const other = buildArchive([archive.raws[1]!, seededBytes("www-new", 4000), archive.raws[8]!]);
    const www = await uploadArchive(store, "web01", fileAt("www", T0), other);
    expect(www.needed).toEqual([false, true, true]);
    const last = await uploadArchive(store, "web01", file, archive);
    expect(indicesOf(last.needed)).toEqual([7, 9]);
    expect(await readBytes(join(root, "web01", file))).toEqual(archive.bytes);
    expect(await readBytes(join(root, "web01", fileAt("www", T0)))).toEqual(other.bytes);
    expect(await stagingDir(root, "web01")).toEqual([]);
  });

  test("after a restart: staged chunks are verified and kept; a last member cut in half is cut off and needed again", async () => {
    const root = await newRoot();
    const store = await openStore(root);
    const archive = buildArchive(randomRaws("restart", 10));
    const file = fileAt("etc", T0);
    await sendSome(store, "web01", file, archive, range(0, 6)); // the server dies here: no abort
    const [part] = await stagingDir(root, "web01");
    const path = join(root, ".hashrelay", "staging", "web01", part!);
    const full = archive.members.slice(0, 6).reduce((sum, m) => sum + m.length, 0);
    expect((await stat(path)).size).toBe(full);
    await truncate(path, full - Math.floor(archive.members[5]!.length / 2)); // the last write was torn
    await touchStaging(root, "web01", T0);

    const { log, events } = recorder();
    const restarted = await openStore(root, { log, now: () => T0 + HOUR });
    expect(events.some((e) => e.event === "staging.truncated" && e.fields.kept === full - archive.members[5]!.length)).toBe(true);
    expect((await stat(path)).size).toBe(full - archive.members[5]!.length);
    const { needed } = await uploadArchive(restarted, "web01", file, archive);
    expect(indicesOf(needed)).toEqual(range(5, 10));
    expect(await readBytes(join(root, "web01", file))).toEqual(archive.bytes);
    expect(await stagingDir(root, "web01")).toEqual([]);
  });

  test("after a restart, a staging file whose members are damaged keeps only the valid prefix; one with none is removed", async () => {
    const root = await newRoot();
    const store = await openStore(root);
    const archive = buildArchive(randomRaws("damaged", 6));
    await sendSome(store, "web01", fileAt("etc", T0), archive, range(0, 4));
    const [part] = await stagingDir(root, "web01");
    const path = join(root, ".hashrelay", "staging", "web01", part!);
    const bytes = await readBytes(path);
    const third = archive.members[0]!.length + archive.members[1]!.length;
    bytes[third + 40] = bytes[third + 40]! ^ 0xff; // inside the deflate data of member 2
    await writeFile(path, bytes);
    await writeFile(join(root, ".hashrelay", "staging", "web01", "00000000000000aa.part"), seededBytes("junk", 5000));
    await touchStaging(root, "web01", T0);

    const restarted = await openStore(root, { now: () => T0 + HOUR });
    expect(await stagingDir(root, "web01")).toEqual([part!]);
    expect((await stat(path)).size).toBe(third);
    const { needed } = await uploadArchive(restarted, "web01", fileAt("etc", T0), archive);
    expect(indicesOf(needed)).toEqual([2, 3, 4, 5]);
    expect(await readBytes(join(root, "web01", fileAt("etc", T0)))).toEqual(archive.bytes);
  });

  test("stale staging (no write for 24 h) is removed at open, fresh staging is kept", async () => {
    const root = await newRoot();
    const store = await openStore(root);
    const archive = buildArchive(randomRaws("stale", 6));
    await (await sendSome(store, "web01", fileAt("etc", T0), archive, [0, 1])).upload.abort();
    await (await sendSome(store, "web02", fileAt("etc", T0), archive, [0])).upload.abort();
    const [old] = await stagingDir(root, "web01");
    const [fresh] = await stagingDir(root, "web02");
    await utimes(join(root, ".hashrelay", "staging", "web01", old!), T0 / 1000, T0 / 1000);
    await utimes(join(root, ".hashrelay", "staging", "web02", fresh!), (T0 + HOUR) / 1000, (T0 + HOUR) / 1000);

    const { log, events } = recorder();
    const later = await openStore(root, { log, now: () => T0 + 24 * HOUR + 1 });
    expect(events.filter((e) => e.event === "staging.removed").map((e) => [e.fields.client, e.fields.item, e.fields.reason])).toEqual([
      ["web01", old, "stale"],
    ]);
    expect(await stagingDir(root, "web01")).toEqual([]);
    expect(await stagingDir(root, "web02")).toEqual([fresh!]);
    expect(indicesOf((await uploadArchive(later, "web01", fileAt("etc", T0), archive)).needed)).toEqual(range(0, 6));
    expect(indicesOf((await uploadArchive(later, "web02", fileAt("etc", T0), archive)).needed)).toEqual(range(1, 6));
  });

  test("a client's staging never satisfies another client", async () => {
    const root = await newRoot();
    const store = await openStore(root);
    const archive = buildArchive(randomRaws("private", 5));
    await (await sendSome(store, "alpha", fileAt("etc", T0), archive, range(0, 5))).upload.abort();
    const beta = await uploadArchive(store, "beta", fileAt("etc", T0), archive);
    expect(beta.needed).toEqual([true, true, true, true, true]);
    // after a restart as well
    await touchStaging(root, "alpha", T0);
    const restarted = await openStore(root, { now: () => T0 + HOUR });
    const gamma = await uploadArchive(restarted, "gamma", fileAt("etc", T0), archive);
    expect(gamma.needed).toEqual([true, true, true, true, true]);
    expect((await uploadArchive(restarted, "alpha", fileAt("etc", T0), archive)).needed).toEqual([false, false, false, false, false]);
  });

  test("over the per-client cap the oldest staging files go, never one an upload in progress relies on", async () => {
    const root = await newRoot();
    const archive = buildArchive(randomRaws("cap", 6));
    const memberBytes = archive.members[0]!.length;
    const time = { now: T0 };
    const store = await openStore(root, { now: () => time.now, stagingCapBytes: 2 * memberBytes + 100 });
    const staged: string[] = [];
    for (const i of [0, 1, 2]) {
      if (i === 2) {
        // an upload in progress counts on chunk 0 (the oldest staging file) ...
        const keeper = offer(store, "web01", fileAt("www", T0), buildArchive([archive.raws[0]!, archive.raws[3]!]));
        expect(keeper.needed).toEqual([false, true]);
        // ... when a third aborted upload pushes the pool over the cap
        await (await sendSome(store, "web01", fileAt("etc", T0), archive, [2])).upload.abort();
        staged.push((await stagingDir(root, "web01")).find((f) => !staged.includes(f))!);
        // chunk 0's file is spared: the next oldest (chunk 1's) went instead
        expect(store.stagingFiles("web01")).toEqual([staged[0]!, staged[2]!]);
        expect(await stagingDir(root, "web01")).toEqual([staged[0]!, staged[2]!].sort());
        await keeper.upload.addChunk(1, archive.members[3]!);
        const entry = await keeper.upload.commit(keeper.header);
        expect(await readBytes(join(root, "web01", entry.file))).toEqual(buildArchive([archive.raws[0]!, archive.raws[3]!]).bytes);
        break;
      }
      await (await sendSome(store, "web01", fileAt("etc", T0), archive, [i])).upload.abort();
      staged.push((await stagingDir(root, "web01")).find((f) => !staged.includes(f))!);
      time.now += 1000;
    }
    expect(store.stagingFiles("web01")).toEqual([staged[2]!]); // chunk 0 is stored now: its file went with the commit
    expect(indicesOf(offer(store, "web01", fileAt("etc", T0), archive).needed)).toEqual([1, 4, 5]);
  });

  test("after a successful commit, staging files whose chunks are all stored go; others stay", async () => {
    const root = await newRoot();
    const time = { now: T0 };
    const store = await openStore(root, { now: () => time.now });
    const archive = buildArchive(randomRaws("sweep", 6));
    await (await sendSome(store, "web01", fileAt("etc", T0), archive, [0, 1])).upload.abort();
    time.now += 1000;
    await (await sendSome(store, "web01", fileAt("etc", T0), archive, [2, 5])).upload.abort();
    const [a, b] = store.stagingFiles("web01");
    // an archive of another name with chunks 0, 1 and 2 (not 5)
    await uploadArchive(store, "web01", fileAt("www", T0), buildArchive(archive.raws.slice(0, 3)));
    expect(store.stagingFiles("web01")).toEqual([b!]);
    expect(await stagingDir(root, "web01")).toEqual([b!]);
    expect(a).not.toBe(b);
  });
});

describe("reused members are checked by their recorded SHA-256", () => {
  test("a stored member altered in place (same length) fails that commit, is recorded, and the next upload is asked for it", async () => {
    const root = await newRoot();
    const time = { now: T0 };
    const before = await openStore(root, { now: () => time.now });
    const first = buildArchive(randomRaws("alter", 5));
    const file1 = fileAt("etc", T0);
    await uploadArchive(before, "web01", file1, first);
    await before.close();
    // an mtime utimes can give back exactly (whole seconds), indexed by the next open
    const path1 = join(root, "web01", file1);
    await utimes(path1, 1_750_000_000, 1_750_000_000);
    const store = await openStore(root, { now: () => time.now });
    const bytes = await readBytes(path1);
    const at = first.members[0]!.length + first.members[1]!.length + first.members[2]!.length - 5; // member 2's CRC
    bytes[at] = bytes[at]! ^ 0x01;
    await writeFile(path1, bytes);
    await utimes(path1, 1_750_000_000, 1_750_000_000); // bit rot keeps the mtime: the index is not rescanned at open

    time.now += HOUR;
    const second = buildArchive([...first.raws, seededBytes("alter-new", 3000)]);
    const err = await expectCode(uploadArchive(store, "web01", fileAt("etc", T0 + HOUR), second), "HASH_MISMATCH");
    expect(err.message).toContain("chunk 2 of etc");
    expect(err.message).toContain(`web01/${file1}`);
    expect(err.message).toContain("no intact copy is stored");
    expect(await readdir(join(root, "web01"))).toEqual([file1]);
    expect(await readBytes(path1)).toEqual(bytes); // left as it is
    expect(await readdir(join(root, ".hashrelay", "tmp"))).toEqual([]);
    // recorded (and kept across a restart): the chunk is no longer held, so the next upload is asked for it
    expect(store.damage.get("web01", file1)?.members.map((m) => m.offset)).toEqual([at + 5 - first.members[2]!.length]);
    await store.close();
    expect((await stat(path1)).mtimeMs).toBe(1_750_000_000_000);
    const reopened = await openStore(root, { now: () => time.now });
    time.now += HOUR;
    const third = fileAt("etc", T0 + 2 * HOUR);
    const { upload, needed } = offer(reopened, "web01", third, second);
    expect(indicesOf(needed)).toEqual([2]); // chunk 5 came with the failed upload: it waits in staging
    await upload.abort();
    await uploadArchive(reopened, "web01", third, second);
    expect((await reopened.verifyArchive("web01", third)).ok).toBe(true);
    await reopened.close();
  });

  test("a staged member altered on disk is HASH_MISMATCH at commit and nothing is stored", async () => {
    const root = await newRoot();
    const store = await openStore(root);
    const archive = buildArchive(randomRaws("pool-alter", 4));
    await (await sendSome(store, "web01", fileAt("etc", T0), archive, [0, 1])).upload.abort();
    const [part] = await stagingDir(root, "web01");
    const path = join(root, ".hashrelay", "staging", "web01", part!);
    const bytes = await readBytes(path);
    bytes[archive.members[0]!.length + 30]! ^= 0x10;
    await writeFile(path, bytes);
    const { upload, needed, header } = offer(store, "web01", fileAt("etc", T0), archive);
    expect(indicesOf(needed)).toEqual([2, 3]);
    await sendNeeded(upload, archive, needed);
    const err = await expectCode(upload.commit(header), "HASH_MISMATCH");
    expect(err.message).toContain("chunk 1 of etc");
    expect(err.message).toContain(part!);
    expect(await readdir(join(root, "web01")).catch(() => [])).toEqual([]);
  });
});

describe("verifyArchive (scrub)", () => {
  test("one flipped byte in a stored archive is found and named; the archive is left as it is", async () => {
    const root = await newRoot();
    const { log, events } = recorder();
    const store = await openStore(root, { log });
    const archive = buildArchive(randomRaws("scrub", 8));
    const file = fileAt("etc", T0);
    await uploadArchive(store, "web01", file, archive);
    expect((await store.verifyArchive("web01", file)).ok).toBe(true);

    const path = join(root, "web01", file);
    const bytes = await readBytes(path);
    const offset5 = archive.members.slice(0, 5).reduce((sum, m) => sum + m.length, 0);
    bytes[offset5 + 1000] = bytes[offset5 + 1000]! ^ 0x04;
    await writeFile(path, bytes); // bit rot under a running server
    const report = await store.verifyArchive("web01", file);
    expect(report.ok).toBe(false);
    expect(report.members).toBe(8);
    expect(report.damaged.map((d) => [d.index, d.offset, d.length, d.chunkId])).toEqual([
      [5, offset5, archive.members[5]!.length, Buffer.from(archive.entries[5]!.id).toString("hex")],
    ]);
    expect(await readBytes(path)).toEqual(bytes);
    expect(store.list("web01").map((e) => e.file)).toEqual([file]);
    expect(
      events.some(
        (e) => e.event === "archive.damaged" && e.fields.file === file && String(e.fields.first).startsWith(`member 5 at byte ${offset5}`),
      ),
    ).toBe(true);
  });

  test("a truncated archive reports the members past its end; unknown archives are STORAGE, bad names BAD_FRAME", async () => {
    const root = await newRoot();
    const { log, events } = recorder();
    const store = await openStore(root, { log });
    const archive = buildArchive(randomRaws("short", 4));
    const file = fileAt("etc", T0);
    await uploadArchive(store, "web01", file, archive);
    const path = join(root, "web01", file);
    await truncate(path, archive.bytes.length - archive.members[3]!.length - 10);
    const report = await store.verifyArchive("web01", file);
    expect(report.ok).toBe(false);
    expect(report.damaged.map((d) => d.index)).toEqual([2, 3]);
    expect(report.size).toBe(archive.bytes.length - archive.members[3]!.length - 10);
    expect(events.some((e) => e.event === "archive.damaged" && e.level === "error")).toBe(true);
    await expectCode(store.verifyArchive("web01", fileAt("etc", T0 + 1000)), "STORAGE");
    await expectCode(store.verifyArchive("web01", "../x"), "BAD_FRAME");
    await expectCode(store.verifyArchive("..", file), "BAD_FRAME");
  });
});

describe("the index file alone", () => {
  test("index.sqlite deleted: reopening gives the same chunk lookups and entries; receipts are gone", async () => {
    const root = await newRoot();
    const time = { now: T0 };
    const store = await openStore(root, { now: () => time.now, retention: { keep: 2, trashForMs: HOUR } });
    const v1 = buildArchive(randomRaws("idx", 6));
    await uploadArchive(store, "web01", fileAt("etc", T0), v1);
    time.now += HOUR;
    const v2 = buildArchive([...randomRaws("idx", 5), seededBytes("idx-new", 7000)]);
    await uploadArchive(store, "web01", fileAt("etc", T0 + HOUR), v2);
    await store.setReceipt("web01", fileAt("etc", T0 + HOUR), { body: "{}", sig: "s", key: "k" });
    const lookups = store.chunkIndex("web01");
    const entries = store.list("web01").map(({ receipt: _, ...rest }) => ({ ...rest, members: rest.members }));
    expect(lookups.size).toBe(7);
    const files = new OpenFiles();
    const chunk: Uint8Array = store.readChunk("web01", Buffer.from(v2.entries[5]!.id).toString("hex"), files)!.slice(); // a view of files' buffer
    files.close();
    await store.close();
    stores.splice(stores.indexOf(store), 1);
    for (const suffix of ["", "-wal", "-shm"]) await rm(join(root, ".hashrelay", `index.sqlite${suffix}`), { force: true });

    const reopened = await openStore(root);
    expect(reopened.chunkIndex("web01")).toEqual(lookups);
    // files rebuilt by scanning are dated by their mtime, not by the time they were stored, and have
    // the whole file's SHA-256 beside their pieces digest (no receipt says which one was signed)
    expect(reopened.list("web01").map(({ storedAt: _, fileSha256: __, ...rest }) => rest)).toEqual(
      entries.map(({ storedAt: _, ...rest }) => rest),
    );
    expect(reopened.list("web01").every((e) => e.receipt === undefined)).toBe(true);
    expect(reopened.readChunk("web01", Buffer.from(v2.entries[5]!.id).toString("hex"), files)).toEqual(chunk);
    files.close();
    expect(chunk).toEqual(v2.raws[5]!);
    const v3 = buildArchive([...randomRaws("idx", 6), seededBytes("idx-newer", 100)]);
    expect(indicesOf((await uploadArchive(reopened, "web01", fileAt("etc", T0 + 2 * HOUR), v3)).needed)).toEqual([6]);
  });
});
