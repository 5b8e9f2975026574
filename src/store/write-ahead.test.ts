// Upload writes the new archive ahead of commit from the entries it already holds: same file, same checks, nothing left behind.
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { open, readdir, readFile, stat, utimes } from "node:fs/promises";
import { join } from "node:path";
import type { LogFields } from "../io/log.ts";
import { noise } from "../testing/noise.ts";
import { HashRelayError } from "../errors.ts";
import { Store } from "./store.ts";
import type { Upload } from "./upload.ts";
import { buildArchive, headerFor, sendNeeded, sendPages, tempRoots, uploadArchive, type TestArchive } from "./test-fixtures.ts";

const newRoot = tempRoots("hashrelay-write-ahead-");
const OLD = "backup-etc-00-00-12-2026-01-01.tar.gz";
const NEW = "backup-etc-00-00-13-2026-01-01.tar.gz";
/** 48 chunks of 200 KiB of noise (members barely smaller): 9.4 MiB, more than two batches written ahead. */
const CHUNKS = 48;
const CHUNK = 200 * 1024;

/**
 * A stored first archive, and a second one: the first's chunks with 2 new ones, at entries 30 and 47.
 * `logged(event)` resolves with the fields of the first such log event, already logged or to come.
 */
async function storedBase(root: string) {
  const logs: { event: string; fields: LogFields }[] = [];
  const waiting: { event: string; resolve: (fields: LogFields) => void }[] = [];
  const store = await Store.open(root, {
    log: (_level, event, fields) => {
      logs.push({ event, fields });
      for (const w of waiting) if (w.event === event) w.resolve(fields);
    },
  });
  const logged = (event: string) =>
    new Promise<LogFields>((resolve) => {
      const seen = logs.find((l) => l.event === event);
      if (seen) resolve(seen.fields);
      else waiting.push({ event, resolve });
    });
  const raws = Array.from({ length: CHUNKS }, (_, i) => noise(CHUNK, 2 * i + 1));
  const base = buildArchive(raws);
  await uploadArchive(store, "web01", OLD, base);
  const next = raws.slice();
  next[30] = noise(CHUNK, 1001);
  next[47] = noise(CHUNK, 1003);
  return { store, logs, logged, base, next: buildArchive(next) };
}

async function tmpFiles(root: string): Promise<string[]> {
  return readdir(join(root, ".hashrelay", "tmp"));
}

/**
 * Waits until the one temp file holds at least `bytes` bytes (written ahead in the background, which logs
 * nothing per batch: the file's size is the event); fails after 30 s, a bound for a loaded machine.
 */
async function tmpReaches(root: string, bytes: number): Promise<void> {
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; await Bun.sleep(20)) {
    const files = await tmpFiles(root);
    if (files.length === 1 && (await stat(join(root, ".hashrelay", "tmp", files[0]!))).size >= bytes) return;
  }
  throw new Error(`no temp file of ${bytes} bytes within 30 s: ${await tmpFiles(root)}`);
}

/** Flips one byte of member `i` of the stored `archive` in place and puts its time stamps back: rot the index cannot see. */
async function rotMember(path: string, archive: TestArchive, i: number): Promise<void> {
  const offset = archive.members.slice(0, i).reduce((sum, m) => sum + m.length, 0) + 100;
  const before = await stat(path);
  const handle = await open(path, "r+");
  const byte = new Uint8Array(1);
  await handle.read(byte, 0, 1, offset);
  byte[0]! ^= 0x01;
  await handle.write(byte, 0, 1, offset);
  await handle.close();
  await utimes(path, before.atime, before.mtime);
}

describe("writing the archive ahead of commit", () => {
  test("the held bulk is written while the upload runs; commit writes the rest; the stored file is the members in order and gunzips to the stream", async () => {
    const root = await newRoot();
    const { store, logs, next } = await storedBase(root);
    const upload = store.beginUpload("web01", "etc");
    const needed = sendPages(upload, next.entries, 10);
    expect(needed.flatMap((n, i) => (n ? [i] : []))).toEqual([30, 47]);
    // Entries 0-29 are held: 6 MiB, written before any chunk arrives.
    await tmpReaches(root, 29 * CHUNK);
    await sendNeeded(upload, next, needed);
    await upload.commit(headerFor(NEW, next));
    const path = join(root, "web01", NEW);
    expect((await readFile(path)).equals(Buffer.from(next.bytes))).toBe(true);
    const gunzip = spawnSync("gzip", ["-dc", path], { maxBuffer: 64 * 1024 * 1024 });
    expect(gunzip.status).toBe(0);
    expect(gunzip.stdout.equals(Buffer.concat(next.raws))).toBe(true);
    const assembled = logs.find((l) => l.event === "commit.assembled" && l.fields.file === NEW)!;
    expect(assembled.fields.aheadEntries).toBeGreaterThanOrEqual(30);
    expect(await tmpFiles(root)).toEqual([]);
    // The member table written ahead is the file's: a restore of the archive reads every member back.
    const scrub = await store.verifyArchive("web01", NEW);
    expect([scrub.ok, scrub.members]).toEqual([true, CHUNKS]);
    await store.close();
  });

  /** Commits `next` expecting HASH_MISMATCH naming chunk `i`; nothing stored, no temp file. */
  async function commitFailsOn(root: string, upload: Upload, next: TestArchive, i: number): Promise<void> {
    const failure = await upload.commit(headerFor(NEW, next)).then(
      () => null,
      (err: HashRelayError) => err,
    );
    expect(failure).toBeInstanceOf(HashRelayError);
    expect(failure!.code).toBe("HASH_MISMATCH");
    expect(failure!.message).toContain(`chunk ${i} of etc`);
    expect(await readdir(join(root, "web01"))).toEqual([OLD]);
    expect(await tmpFiles(root)).toEqual([]);
  }

  test("a held member that rotted, in a batch written ahead: the early write is given up and its file removed; commit says HASH_MISMATCH and stores nothing", async () => {
    const root = await newRoot();
    const { store, logged, base, next } = await storedBase(root);
    await rotMember(join(root, "web01", OLD), base, 5);
    const upload = store.beginUpload("web01", "etc");
    const needed = sendPages(upload, next.entries, 10);
    // Logged once the early write's temp file is removed.
    expect((await logged("upload.ahead-given-up")).error).toContain("chunk 5 of etc");
    expect(await tmpFiles(root)).toEqual([]);
    await sendNeeded(upload, next, needed);
    await commitFailsOn(root, upload, next, 5);
    await store.close();
  });

  test("a held member that rotted after the early write went past it: commit, going on from there, says HASH_MISMATCH and stores nothing", async () => {
    const root = await newRoot();
    const { store, base, next } = await storedBase(root);
    const upload = store.beginUpload("web01", "etc");
    const needed = sendPages(upload, next.entries.slice(0, 30), 10);
    await tmpReaches(root, 29 * CHUNK);
    await rotMember(join(root, "web01", OLD), base, 40);
    needed.push(...upload.addManifestPage(30, next.entries.slice(30)));
    await sendNeeded(upload, next, needed);
    await commitFailsOn(root, upload, next, 40);
    await store.close();
  });

  test("an upload aborted after writing ahead leaves no temp file, and the next upload is asked only for what it lacks", async () => {
    const root = await newRoot();
    const { store, next } = await storedBase(root);
    const upload = store.beginUpload("web01", "etc");
    sendPages(upload, next.entries, 10);
    await tmpReaches(root, 29 * CHUNK);
    await upload.addChunk(30, next.members[30]!);
    await upload.abort();
    expect(await tmpFiles(root)).toEqual([]);
    const again = store.beginUpload("web01", "etc");
    const needed = sendPages(again, next.entries, 10);
    expect(needed.flatMap((n, i) => (n ? [i] : []))).toEqual([47]);
    await again.addChunk(47, next.members[47]!);
    await again.commit(headerFor(NEW, next));
    expect((await readFile(join(root, "web01", NEW))).equals(Buffer.from(next.bytes))).toBe(true);
    expect(await tmpFiles(root)).toEqual([]);
    await store.close();
  });
});
