import { describe, expect, test } from "bun:test";
import { piecesDigestOf } from "../testing/pieces-digest-of.ts";
import { Database } from "bun:sqlite";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rm, stat, truncate, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { archiveFileName } from "../archive/naming.ts";
import { HashRelayError } from "../errors.ts";
import { CHUNK_MAX, MANIFEST_PAGE_ENTRIES, MAX_CHUNKS_PER_ARCHIVE } from "../protocol/constants.ts";
import { asStorageError } from "./storage-error.ts";
import { Store, type StoreLog, type UploadHeader } from "./store.ts";
import {
  buildArchive,
  headerFor,
  offer,
  seededBytes,
  sendNeeded,
  sendPages,
  sha256,
  sliceStream,
  tempRoots,
  uploadArchive,
} from "./test-fixtures.ts";

const HOUR = 3600_000;
const T0 = Date.UTC(2026, 0, 10, 3, 0, 0);
const fileAt = (name: string, ms: number) => archiveFileName(name, new Date(ms));

const newRoot = tempRoots("hr-store-");

/** The file's bytes, typed so expect() compares them with archives built in memory. */
async function readBytes(path: string): Promise<Uint8Array> {
  return new Uint8Array(await readFile(path));
}

/** A clock tests can move. */
function clock(start = T0) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

function recorder(): { log: StoreLog; events: { level: string; event: string; fields: Record<string, unknown> }[] } {
  const events: { level: string; event: string; fields: Record<string, unknown> }[] = [];
  return { events, log: (level, event, fields) => events.push({ level, event, fields }) };
}

/** Twenty distinct 20 KiB chunks: a small archive whose chunks are all different. */
function randomRaws(seed: string, count = 20, size = 20 * 1024): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => seededBytes(`${seed}-${i}`, size));
}

async function expectCode(promise: Promise<unknown> | (() => unknown), code: string): Promise<HashRelayError> {
  try {
    if (typeof promise === "function") await promise();
    else await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(HashRelayError);
    expect((err as HashRelayError).code).toBe(code as HashRelayError["code"]);
    return err as HashRelayError;
  }
  throw new Error(`expected ${code}, nothing was thrown`);
}

/** The archive's row in the on-disk index and its members' [chunk id hex, member SHA-256 hex], read with SQLite directly. */
function indexed(root: string, client: string, file: string): { archiveId: string; members: [string, string][] } | undefined {
  const db = new Database(join(root, ".hashrelay", "index.sqlite"), { readonly: true });
  try {
    const row = db
      .query<{ id: number; archive_id: string }, [string, string]>(
        "SELECT id, archive_id FROM archives WHERE client = ? AND file = ? AND live = 1",
      )
      .get(client, file);
    if (!row) return undefined;
    // its own rows, and those its spans lend it (index-spans.ts)
    const members = db
      .query<{ id: string; sha: string }, [number, number]>(
        "SELECT seq, lower(hex(chunk_id)) AS id, lower(hex(member_sha256)) AS sha FROM members WHERE archive = ?" +
          " UNION ALL SELECT s.first_seq + m.seq - s.source_seq, lower(hex(m.chunk_id)), lower(hex(m.member_sha256)) FROM spans s" +
          " JOIN members m ON m.archive = s.source AND m.seq >= s.source_seq AND m.seq < s.source_seq + s.count WHERE s.archive = ?" +
          " ORDER BY 1",
      )
      .all(row.id, row.id)
      .map((m): [string, string] => [m.id, m.sha]);
    return { archiveId: row.archive_id, members };
  } finally {
    db.close();
  }
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

async function filesUnder(dir: string): Promise<string[]> {
  return existsSync(dir) ? (await readdir(dir, { recursive: true })).map(String).sort() : [];
}

describe("upload of a fresh archive", () => {
  test("appears under its exact name, passes gzip -t, restores with tar, index entry is right, tmp is empty", async () => {
    const root = await newRoot();
    const source = await newRoot();
    await mkdir(join(source, "etc", "app"), { recursive: true });
    await writeFile(join(source, "etc", "hosts"), "127.0.0.1 localhost\n");
    await writeFile(join(source, "etc", "app", "blob.bin"), seededBytes("blob", 300_000));
    const tar = spawnSync("tar", ["-cf", "-", "-C", source, "etc"], { maxBuffer: 1 << 26 });
    expect(tar.status).toBe(0);
    const archive = buildArchive(sliceStream(new Uint8Array(tar.stdout), 50_000));

    const store = await Store.open(root, { now: () => T0 });
    const file = fileAt("etc", T0);
    const { needed, entry } = await uploadArchive(store, "web01", file, archive);

    expect(needed.every(Boolean)).toBe(true);
    const path = join(root, "web01", file);
    expect(await readdir(join(root, "web01"))).toEqual([file]);
    expect(await readBytes(path)).toEqual(archive.bytes);
    expect(spawnSync("gzip", ["-t", path]).status).toBe(0);
    const out = join(source, "restored");
    await mkdir(out);
    expect(spawnSync("tar", ["-xzf", path, "-C", out]).status).toBe(0);
    expect(await readFile(join(out, "etc", "hosts"), "utf8")).toBe("127.0.0.1 localhost\n");
    expect(await readBytes(join(out, "etc", "app", "blob.bin"))).toEqual(seededBytes("blob", 300_000));

    expect(entry.client).toBe("web01");
    expect(entry.name).toBe("etc");
    expect(entry.file).toBe(file);
    expect(entry.archiveId).toBe(archive.archiveId);
    expect(entry.size).toBe(archive.bytes.length);
    expect(entry.piecesSha256).toBe(piecesDigestOf(archive.bytes));
    expect(entry.storedAt).toBe(new Date(T0).toISOString());
    expect(entry.members.length).toBe(archive.members.length);
    let offset = 0;
    for (const [i, [id, at, length, raw]] of entry.members.entries()) {
      expect(id).toBe(Buffer.from(archive.entries[i]!.id).toString("hex"));
      expect([at, length, raw]).toEqual([offset, archive.members[i]!.length, archive.raws[i]!.length]);
      offset += length;
    }
    // the index on disk records the archive and, per member, its chunk id and the SHA-256 of its bytes
    expect(indexed(root, "web01", file)).toEqual({
      archiveId: archive.archiveId,
      members: archive.members.map((m, i) => [hex(archive.entries[i]!.id), hex(sha256(m))]),
    });
    expect(store.latest("web01", "etc")?.file).toBe(file);
    expect(store.find("web01", "etc", archive.archiveId)?.file).toBe(file);
    expect(store.list("web01").map((e) => e.file)).toEqual([file]);
    expect(await filesUnder(join(root, ".hashrelay", "tmp"))).toEqual([]);
    expect(await filesUnder(join(root, ".hashrelay", "staging", "web01"))).toEqual([]);
    expect((await stat(join(root, "web01"))).mode & 0o777 & ~0o750).toBe(0);
  });
});

describe("second archive of a name", () => {
  test("given the accepted base's chunk ids (as the session passes them), pages get the need flags the index gives", async () => {
    const root = await newRoot();
    const store = await Store.open(root);
    const raws1 = randomRaws("base");
    const { entry } = await uploadArchive(store, "web01", fileAt("www", T0), buildArchive(raws1));
    const raws2 = [...raws1];
    raws2[3] = seededBytes("edited", 9000);
    raws2.push(seededBytes("new", 5000));
    const second = buildArchive(raws2);
    const plain = store.beginUpload("web01", "www");
    const fromIndex = sendPages(plain, second.entries);
    await plain.abort();
    const hinted = store.beginUpload("web01", "www", "tar.gz", new Set(entry.members.map(([hex]) => hex)));
    expect(sendPages(hinted, second.entries)).toEqual(fromIndex);
    expect(fromIndex.flatMap((n, i) => (n ? [i] : []))).toEqual([3, raws2.length - 1]);
    await hinted.abort();
  });

  test("only new chunks travel, the file equals the client's bytes, the old one is trashed after, purged after trashFor", async () => {
    const root = await newRoot();
    const time = clock();
    const { log, events } = recorder();
    const store = await Store.open(root, { now: time.now, log, retention: { keep: 1, trashForMs: 48 * HOUR } });
    const raws1 = randomRaws("v1");
    const first = buildArchive(raws1);
    const file1 = fileAt("www", T0);
    await uploadArchive(store, "web01", file1, first);

    time.advance(HOUR);
    const raws2 = [...raws1];
    raws2[5] = seededBytes("changed", 20 * 1024);
    raws2.push(seededBytes("appended", 7000));
    const second = buildArchive(raws2);
    const file2 = fileAt("www", T0 + HOUR);
    const path1 = join(root, "web01", file1);
    const path2 = join(root, "web01", file2);
    let newInPlaceWhenTrashed = null as boolean | null;
    events.length = 0;
    const spy: StoreLog = (level, event, fields) => {
      if (event === "archive.trashed") newInPlaceWhenTrashed = existsSync(path2) && !existsSync(path1);
      log(level, event, fields);
    };
    const watched = await Store.open(root, { now: time.now, log: spy, retention: { keep: 1, trashForMs: 48 * HOUR } });
    const { needed, entry } = await uploadArchive(watched, "web01", file2, second);

    expect(needed.flatMap((n, i) => (n ? [i] : []))).toEqual([5, 20]);
    expect(await readBytes(path2)).toEqual(second.bytes);
    expect(entry.archiveId).toBe(second.archiveId);
    expect(spawnSync("gzip", ["-t", path2]).status).toBe(0);
    expect(newInPlaceWhenTrashed).toBe(true);
    expect(events.map((e) => e.event).filter((e) => e.startsWith("archive."))).toEqual(["archive.stored", "archive.trashed"]);
    expect(existsSync(path1)).toBe(false);
    expect(await readBytes(join(root, ".trash", "web01", file1))).toEqual(first.bytes);
    expect(watched.list("web01").map((e) => e.file)).toEqual([file2]);
    expect(indexed(root, "web01", file1)).toBeUndefined();
    // the chunk index no longer points into the trashed file
    for (const location of watched.chunkIndex("web01").values()) expect(location.file).toBe(file2);

    time.advance(48 * HOUR - 1);
    expect(await watched.purgeTrash()).toEqual([]);
    expect(existsSync(join(root, ".trash", "web01", file1))).toBe(true);
    time.advance(1);
    const purged = await watched.purgeTrash();
    expect(purged.map((p) => [p.client, p.item])).toEqual([["web01", file1]]);
    expect(await readdir(join(root, ".trash", "web01"))).toEqual([]);
    expect(await readBytes(path2)).toEqual(second.bytes);
  });

  test("keep: 2 keeps the two newest", async () => {
    const root = await newRoot();
    const time = clock();
    const store = await Store.open(root, { now: time.now, retention: { keep: 2, trashForMs: HOUR } });
    const files = [0, 1, 2].map((k) => fileAt("db", T0 + k * HOUR));
    for (const [k, file] of files.entries()) {
      await uploadArchive(store, "web01", file, buildArchive(randomRaws(`db${k}`, 3)));
      time.advance(HOUR);
    }
    expect((await readdir(join(root, "web01"))).sort()).toEqual([files[1]!, files[2]!].sort());
    expect((await readdir(join(root, ".trash", "web01"))).sort()).toEqual([files[0]!, `${files[0]}.trashed`]);
    expect(store.latest("web01", "db")?.file).toBe(files[2]);
  });

  test("repeated chunks inside one archive are asked for once and written at every place", async () => {
    const root = await newRoot();
    const store = await Store.open(root, { now: () => T0 });
    const a = seededBytes("a", 30_000);
    const b = seededBytes("b", 30_000);
    const archive = buildArchive([a, b, a, a, b]);
    const { needed, entry } = await uploadArchive(store, "web01", fileAt("rep", T0), archive);
    expect(needed).toEqual([true, true, false, false, false]);
    expect(await readBytes(join(root, "web01", fileAt("rep", T0)))).toEqual(archive.bytes);
    expect(entry.members.map((m) => m[1])).toEqual(
      [0, 1, 2, 3, 4].map((k) => archive.members.slice(0, k).reduce((s, m) => s + m.length, 0)),
    );
  });
});

describe("several pages and uploads at once", () => {
  test("small manifest pages with repeats across pages, and two names committed concurrently", async () => {
    const root = await newRoot();
    const store = await Store.open(root, { now: () => T0 });
    const x = seededBytes("x", 4000);
    const raws = [...randomRaws("pg", 4, 3000), x, ...randomRaws("pg2", 4, 3000), x, x];
    const paged = buildArchive(raws);
    const other = buildArchive(randomRaws("other-name", 5, 3000));
    const first = offer(store, "web01", fileAt("paged", T0), paged, 3);
    const second = offer(store, "web01", fileAt("other", T0), other, 2);
    expect(first.needed).toEqual([true, true, true, true, true, true, true, true, true, false, false]);
    for (const [i, n] of first.needed.entries()) if (n) await first.upload.addChunk(i, paged.members[i]!);
    for (const [i, n] of second.needed.entries()) if (n) await second.upload.addChunk(i, other.members[i]!);
    const [a, b] = await Promise.all([first.upload.commit(first.header), second.upload.commit(second.header)]);
    expect(a.archiveId).toBe(paged.archiveId);
    expect(b.archiveId).toBe(other.archiveId);
    expect(await readBytes(join(root, "web01", fileAt("paged", T0)))).toEqual(paged.bytes);
    expect(await readBytes(join(root, "web01", fileAt("other", T0)))).toEqual(other.bytes);
    expect(spawnSync("gzip", ["-t", join(root, "web01", fileAt("paged", T0))]).status).toBe(0);
  });

  test("a manifest of thousands of entries in uneven pages grows as it streams and is stored exactly", async () => {
    const root = await newRoot();
    const store = await Store.open(root, { now: () => T0 });
    // 2600 small chunks (more than the first allocations hold), every 7th repeating one sent 1000 entries earlier
    const raws: Uint8Array[] = [];
    for (let i = 0; i < 2600; i++) raws.push(i % 7 === 6 && i >= 1000 ? raws[i - 1000]! : seededBytes(`big-${i}`, 40 + (i % 50)));
    const archive = buildArchive(raws);
    const file = fileAt("big", T0);
    const { upload, needed, header } = offer(store, "web01", file, archive, 777);
    expect(needed.length).toBe(2600);
    expect(needed).toEqual(raws.map((_, i) => !(i % 7 === 6 && i >= 1000)));
    await sendNeeded(upload, archive, needed);
    const entry = await upload.commit(header);
    expect(entry.members.length).toBe(2600);
    expect(entry.members.map(([, , , raw]) => raw)).toEqual(raws.map((r) => r.length));
    const path = join(root, "web01", file);
    expect(await readBytes(path)).toEqual(archive.bytes);
    expect(spawnSync("gzip", ["-t", path]).status).toBe(0);
  });
});

describe("refusals leave storage as it was", () => {
  test("a wrong chunk is HASH_MISMATCH, nothing reaches a final name, the previous archive stays intact", async () => {
    const root = await newRoot();
    const time = clock();
    const store = await Store.open(root, { now: time.now });
    const first = buildArchive(randomRaws("base", 5));
    const file1 = fileAt("etc", T0);
    await uploadArchive(store, "web01", file1, first);
    time.advance(HOUR);

    const raws = randomRaws("base", 5);
    raws[2] = seededBytes("new", 10_000);
    const second = buildArchive(raws);
    const file2 = fileAt("etc", T0 + HOUR);
    const { upload, needed } = offer(store, "web01", file2, second);
    expect(needed).toEqual([false, false, true, false, false]);
    const wrong = buildArchive([seededBytes("other", 10_000)]).members[0]!;
    const err = await expectCode(() => upload.addChunk(2, wrong), "HASH_MISMATCH");
    expect(err.message).toBe("chunk 2 of etc does not match its id");
    // a member with trailing bytes is not the member either
    await expectCode(() => upload.addChunk(2, new Uint8Array([...second.members[2]!, 0])), "HASH_MISMATCH");
    // a member whose ISIZE lies (raw longer than the entry) is refused
    const longer = buildArchive([seededBytes("new", 10_001)]).members[0]!;
    await expectCode(() => upload.addChunk(2, longer), "HASH_MISMATCH");
    const missing = await expectCode(upload.commit(headerFor(file2, second)), "BAD_FRAME");
    expect(missing.message).toContain("chunk(s) of etc asked for never arrived (first: 2)");

    expect(await readdir(join(root, "web01"))).toEqual([file1]);
    expect(await readBytes(join(root, "web01", file1))).toEqual(first.bytes);
    expect(store.latest("web01", "etc")?.file).toBe(file1);
    expect(await filesUnder(join(root, ".hashrelay", "tmp"))).toEqual([]);
    expect(await filesUnder(join(root, ".hashrelay", "staging", "web01"))).toEqual([]);
    expect(await filesUnder(join(root, ".trash"))).toEqual([]);
  });

  test("an archive id that does not match the manifest is refused at commit and nothing is stored", async () => {
    const root = await newRoot();
    const store = await Store.open(root, { now: () => T0 });
    const archive = buildArchive(randomRaws("x", 3));
    const liar = { ...archive, archiveId: buildArchive(randomRaws("y", 3)).archiveId };
    const { upload, needed, header } = offer(store, "web01", fileAt("etc", T0), liar);
    expect(header.archiveId).not.toBe(archive.archiveId);
    await sendNeeded(upload, archive, needed);
    const err = await expectCode(upload.commit(header), "HASH_MISMATCH");
    expect(err.message).toContain(fileAt("etc", T0));
    expect(await filesUnder(join(root, "web01"))).toEqual([]);
    expect(store.list("web01")).toEqual([]);
    expect(await filesUnder(join(root, ".hashrelay", "tmp"))).toEqual([]);
    // the upload is closed: the agent cannot keep using it
    await expectCode(() => upload.addManifestPage(0, archive.entries), "BAD_FRAME");
    // its chunks were verified one by one: they wait in staging, and the honest upload needs none of them
    expect(store.stagingFiles("web01").length).toBe(1);
    const honest = await uploadArchive(store, "web01", fileAt("etc", T0), archive);
    expect(honest.needed).toEqual([false, false, false]);
    expect(await readBytes(join(root, "web01", fileAt("etc", T0)))).toEqual(archive.bytes);
    expect(await filesUnder(join(root, ".hashrelay", "staging", "web01"))).toEqual([]);
  });

  test("asked-for chunks come in ascending order (PROTOCOL.md §10 step 5): one before the last that arrived is BAD_FRAME", async () => {
    const store = await Store.open(await newRoot(), { now: () => T0 });
    const fresh = buildArchive(randomRaws("r", 3));
    const { upload, needed } = offer(store, "web01", fileAt("etc", T0), fresh);
    expect(needed).toEqual([true, true, true]);
    await upload.addChunk(1, fresh.members[1]!);
    const late = await expectCode(() => upload.addChunk(0, fresh.members[0]!), "BAD_FRAME");
    expect(late.message).toContain("arrived after chunk 1");
    await upload.abort();
    await store.close();
  });

  test("chunks that were not asked for, out-of-order or malformed pages and a wrong raw size are BAD_FRAME", async () => {
    const root = await newRoot();
    const store = await Store.open(root, { now: () => T0 });
    const base = buildArchive(randomRaws("p", 3));
    await uploadArchive(store, "web01", fileAt("etc", T0), base);
    const next = buildArchive([...randomRaws("p", 3), seededBytes("q", 5000)]);
    const { upload, needed } = offer(store, "web01", fileAt("etc", T0 + 1000), next);
    expect(needed).toEqual([false, false, false, true]);
    await expectCode(() => upload.addChunk(0, next.members[0]!), "BAD_FRAME"); // stored already
    await expectCode(() => upload.addChunk(4, next.members[3]!), "BAD_FRAME"); // no such entry
    await upload.addChunk(3, next.members[3]!);
    await expectCode(() => upload.addChunk(3, next.members[3]!), "BAD_FRAME"); // twice
    await upload.abort();

    const header = headerFor(fileAt("etc", T0 + 2000), next);
    expect(header.chunks).toBe(4);
    const wrongSize = store.beginUpload("web01", "etc");
    expect(wrongSize.addManifestPage(0, next.entries)).toEqual([false, false, false, false]); // chunk 3 waits in staging since the abort
    await expectCode(() => wrongSize.addChunk(3, next.members[3]!), "BAD_FRAME");
    const err = await expectCode(wrongSize.commit({ ...header, rawSize: next.rawSize + 1 }), "BAD_FRAME");
    expect(err.message).toContain(`adds up to ${next.rawSize} raw bytes`);
    expect(await readdir(join(root, "web01"))).toEqual([fileAt("etc", T0)]);
    expect(store.stagingFiles("web01").length).toBe(1);

    const pages = store.beginUpload("web01", "etc");
    await expectCode(() => pages.addManifestPage(2, next.entries.slice(2)), "BAD_FRAME"); // a gap
    pages.addManifestPage(0, next.entries.slice(0, 2));
    await expectCode(() => pages.addManifestPage(0, next.entries.slice(2)), "BAD_FRAME"); // a repeat of entry 0
    await expectCode(() => pages.addManifestPage(3, next.entries.slice(3)), "BAD_FRAME"); // skips entry 2
    await expectCode(() => pages.addManifestPage(2, []), "BAD_FRAME"); // empty
    const oversized = Array.from({ length: MANIFEST_PAGE_ENTRIES + 1 }, () => next.entries[3]!);
    await expectCode(() => pages.addManifestPage(2, oversized), "BAD_FRAME");
    await expectCode(() => pages.addManifestPage(2, [{ ...next.entries[2]!, rawLength: CHUNK_MAX + 1 }]), "BAD_FRAME");
    await expectCode(() => pages.addManifestPage(2, [{ ...next.entries[2]!, rawLength: -1 }]), "BAD_FRAME");
    await expectCode(() => pages.addManifestPage(2, [{ ...next.entries[2]!, id: next.entries[2]!.id.subarray(0, 31) }]), "BAD_FRAME");
    // the refused pages left no trace: the rest fits at entry 2 and the whole manifest hashes to its id
    expect(pages.addManifestPage(2, next.entries.slice(2))).toEqual([false, false]);
    expect((await pages.commit(header)).archiveId).toBe(next.archiveId);
    expect(await readBytes(join(root, "web01", header.file))).toEqual(next.bytes);
    // every staged chunk is now stored: the staging file is gone
    expect(await filesUnder(join(root, ".hashrelay", "staging", "web01"))).toEqual([]);
  });

  test("not enough free space is NO_SPACE and nothing is stored", async () => {
    const root = await newRoot();
    const store = await Store.open(root, { now: () => T0, space: { minFreeBytes: Number.MAX_SAFE_INTEGER / 2, quotas: new Map() } });
    await expectCode(uploadArchive(store, "web01", fileAt("etc", T0), buildArchive(randomRaws("s", 2))), "NO_SPACE");
    expect(await filesUnder(join(root, "web01"))).toEqual([]);
    expect(await filesUnder(join(root, ".hashrelay", "tmp"))).toEqual([]);
  });

  test("a reused member that no longer matches its id is HASH_MISMATCH and no garbage is stored", async () => {
    const root = await newRoot();
    const time = clock();
    const store = await Store.open(root, { now: time.now });
    const first = buildArchive(randomRaws("r", 4));
    const file1 = fileAt("etc", T0);
    await uploadArchive(store, "web01", file1, first);
    // bit rot inside the second member of the stored archive (same size)
    const path1 = join(root, "web01", file1);
    const bytes = await readBytes(path1);
    const at = first.members[0]!.length + 100;
    bytes[at] = bytes[at]! ^ 0xff;
    await writeFile(path1, bytes);
    time.advance(HOUR);
    const second = buildArchive([...randomRaws("r", 4), seededBytes("tail", 3000)]);
    const file2 = fileAt("etc", T0 + HOUR);
    const err = await expectCode(uploadArchive(store, "web01", file2, second), "HASH_MISMATCH");
    expect(err.message).toContain("chunk 1 of etc");
    expect(await readdir(join(root, "web01"))).toEqual([file1]);
    expect(await filesUnder(join(root, ".hashrelay", "tmp"))).toEqual([]);
  });

  test("the same file again returns the stored entry; another archive under a stored name is STORAGE", async () => {
    const root = await newRoot();
    const store = await Store.open(root, { now: () => T0 });
    const archive = buildArchive(randomRaws("same", 3));
    const file = fileAt("etc", T0);
    const { entry } = await uploadArchive(store, "web01", file, archive);
    const again = await uploadArchive(store, "web01", file, archive);
    expect(again.needed).toEqual([false, false, false]);
    expect(again.entry).toEqual(entry);
    expect(await readdir(join(root, "web01"))).toEqual([file]);
    expect(await filesUnder(join(root, ".trash"))).toEqual([]);
    // the offer of other content is accepted (its id comes only with the commit); the commit is refused
    const other = buildArchive(randomRaws("other", 3));
    const { upload, needed, header } = offer(store, "web01", file, other);
    expect(needed).toEqual([true, true, true]);
    await sendNeeded(upload, other, needed);
    const err = await expectCode(upload.commit(header), "STORAGE");
    expect(err.message).toContain(`web01/${file}`);
    expect(await readBytes(join(root, "web01", file))).toEqual(archive.bytes);
    expect(store.list("web01")).toEqual([entry]);
    expect(await filesUnder(join(root, ".trash"))).toEqual([]);
    expect(await filesUnder(join(root, ".hashrelay", "tmp"))).toEqual([]);
    expect(store.stagingFiles("web01").length).toBe(1); // the refused chunks wait in staging, they are valid chunks
  });

  test("two uploads of one client and name at once: the second is BUSY, whatever its file; others are not", async () => {
    const root = await newRoot();
    const store = await Store.open(root, { now: () => T0 });
    const archive = buildArchive(randomRaws("busy", 2));
    const { upload, needed, header } = offer(store, "web01", fileAt("etc", T0), archive);
    await sendNeeded(upload, archive, needed);
    const err = await expectCode(() => store.beginUpload("web01", "etc"), "BUSY");
    expect(err.message).toContain("etc");
    expect(err.message).toContain("web01");
    // another name of this client, and this name for another client, are not blocked
    await uploadArchive(store, "web01", fileAt("www", T0), archive);
    await uploadArchive(store, "web02", fileAt("etc", T0 + 1000), archive);
    expect(await readBytes(join(root, "web02", fileAt("etc", T0 + 1000)))).toEqual(archive.bytes);
    // still BUSY while the commit itself runs
    const committing = upload.commit(header);
    await expectCode(() => store.beginUpload("web01", "etc"), "BUSY");
    expect((await committing).file).toBe(fileAt("etc", T0));
    expect(await readBytes(join(root, "web01", fileAt("etc", T0)))).toEqual(archive.bytes);
  });

  test("after a commit, an abort or a refused commit the name is free for the next upload", async () => {
    const root = await newRoot();
    const time = clock();
    const store = await Store.open(root, { now: time.now, retention: { keep: 5, trashForMs: HOUR } });
    const v1 = buildArchive(randomRaws("free1", 2));
    const v2 = buildArchive(randomRaws("free2", 2));
    const v3 = buildArchive(randomRaws("free3", 2));
    await uploadArchive(store, "web01", fileAt("etc", T0), v1);

    time.advance(HOUR);
    const aborted = offer(store, "web01", fileAt("etc", T0 + HOUR), v2);
    await aborted.upload.addChunk(0, v2.members[0]!);
    await aborted.upload.abort();
    await aborted.upload.abort(); // harmless twice
    await expectCode(() => aborted.upload.addChunk(1, v2.members[1]!), "BAD_FRAME");
    await expectCode(aborted.upload.commit(aborted.header), "BAD_FRAME");
    expect(store.stagingFiles("web01").length).toBe(1);
    const { needed } = await uploadArchive(store, "web01", fileAt("etc", T0 + HOUR), v2);
    expect(needed).toEqual([false, true]); // the chunk the aborted upload staged does not travel again
    expect(await filesUnder(join(root, ".hashrelay", "staging", "web01"))).toEqual([]);

    time.advance(HOUR);
    const refused = offer(store, "web01", fileAt("etc", T0 + 2 * HOUR), v3);
    await expectCode(refused.upload.commit(refused.header), "BAD_FRAME"); // chunks never sent
    await uploadArchive(store, "web01", fileAt("etc", T0 + 2 * HOUR), v3);

    expect(store.list("web01").map((e) => e.archiveId)).toEqual([v1.archiveId, v2.archiveId, v3.archiveId]);
    for (const [k, v] of [v1, v2, v3].entries()) {
      expect(await readBytes(join(root, "web01", fileAt("etc", T0 + k * HOUR)))).toEqual(v.bytes);
    }
  });
});

describe("names from the wire", () => {
  test("bad names, files, headers and client ids are BAD_FRAME and create nothing", async () => {
    const root = await newRoot();
    const store = await Store.open(root, { now: () => T0 });
    const archive = buildArchive(randomRaws("n", 1));
    const good = headerFor("backup-etc-00-00-03-2026-01-10.tar.gz", archive);
    /** A complete upload of `archive` as "etc" whose commit carries `header` instead of the right one. */
    const commitWith = async (header: UploadHeader) => {
      const upload = store.beginUpload("web01", "etc");
      await sendNeeded(upload, archive, sendPages(upload, archive.entries));
      await expectCode(upload.commit(header), "BAD_FRAME");
      await expectCode(() => upload.addManifestPage(1, archive.entries), "BAD_FRAME"); // closed
    };
    for (const name of ["../../etc", "a/b", ".trash", ".hashrelay", "", "ETC", "a..b", "x".repeat(65)]) {
      await expectCode(() => store.beginUpload("web01", name), "BAD_FRAME");
      await expectCode(() => store.latest("web01", name), "BAD_FRAME");
      await commitWith({ ...good, name, file: `backup-${name}-00-00-03-2026-01-10.tar.gz` });
    }
    for (const client of ["..", ".", ".trash", "a/b", "../x", ""]) {
      await expectCode(() => store.beginUpload(client, "etc"), "BAD_FRAME");
      await expectCode(() => store.list(client), "BAD_FRAME");
      await expectCode(() => store.chunkIndex(client), "BAD_FRAME");
    }
    for (const file of [
      "../backup-etc-00-00-03-2026-01-10.tar.gz",
      "backup-etc-00-00-03-2026-01-10.tar.gz/x",
      "backup-www-00-00-03-2026-01-10.tar.gz",
      "etc.tar.gz",
      "backup-etc-99-00-03-2026-01-10.tar.gz",
    ]) {
      await commitWith({ ...good, file });
    }
    await expectCode(store.setReceipt("web01", "../../x.json", { body: "", sig: "", key: "" }), "BAD_FRAME");
    for (const archiveId of ["../x", archive.archiveId.toUpperCase(), archive.archiveId.slice(1), `${archive.archiveId}0`]) {
      await commitWith({ ...good, archiveId });
    }
    for (const chunks of [0, -1, 0.5, MAX_CHUNKS_PER_ARCHIVE + 1, Number.NaN]) await commitWith({ ...good, chunks });
    for (const rawSize of [-1, 0.5, CHUNK_MAX + 1]) await commitWith({ ...good, rawSize });
    expect((await readdir(root)).sort()).toEqual([".hashrelay", ".trash"]);
    // the one chunk was staged once (later uploads found it in staging)
    expect(store.stagingFiles("web01").length).toBe(1);
    expect(await filesUnder(join(root, ".hashrelay", "tmp"))).toEqual([]);
    // every refused commit closed its upload and freed the name
    expect((await uploadArchive(store, "web01", good.file, archive)).entry.archiveId).toBe(archive.archiveId);
    expect(await filesUnder(join(root, ".hashrelay", "staging", "web01"))).toEqual([]);
  });

  test("a commit naming another source than the upload's is BAD_FRAME and stores nothing", async () => {
    const root = await newRoot();
    const store = await Store.open(root, { now: () => T0 });
    const archive = buildArchive(randomRaws("renamed", 3));
    const upload = store.beginUpload("web01", "etc");
    await sendNeeded(upload, archive, sendPages(upload, archive.entries));
    const header = headerFor(fileAt("www", T0), archive); // well-formed, consistent with the pages, but for www
    const err = await expectCode(upload.commit(header), "BAD_FRAME");
    expect(err.message).toContain("www");
    expect(err.message).toContain("etc");
    expect(await filesUnder(join(root, "web01"))).toEqual([]);
    expect(store.list("web01")).toEqual([]);
    // an upload of www is not blocked by it, nor is the next one of etc
    await uploadArchive(store, "web01", fileAt("www", T0), archive);
    await uploadArchive(store, "web01", fileAt("etc", T0), archive);
    expect((await readdir(join(root, "web01"))).sort()).toEqual([fileAt("etc", T0), fileAt("www", T0)].sort());
  });

  test("a commit whose chunk count differs from the entries sent is BAD_FRAME and stores nothing", async () => {
    const root = await newRoot();
    const store = await Store.open(root, { now: () => T0 });
    const archive = buildArchive(randomRaws("count", 3, 5000));
    const file = fileAt("etc", T0);
    const header = headerFor(file, archive);
    // every page and chunk sent, raw size and id right, but the manifest claims one more chunk
    const more = offer(store, "web01", file, archive);
    await sendNeeded(more.upload, archive, more.needed);
    const err = await expectCode(more.upload.commit({ ...header, chunks: 4 }), "BAD_FRAME");
    expect(err.message).toContain(file);
    expect(err.message).toContain("declares 4 entries, 3 arrived");
    // the stream stopped after two entries: the right header finds the manifest incomplete
    const short = store.beginUpload("web01", "etc");
    expect(sendPages(short, archive.entries.slice(0, 2))).toEqual([false, false]); // staged by the refused upload
    expect((await expectCode(short.commit(header), "BAD_FRAME")).message).toContain("declares 3 entries, 2 arrived");
    // more entries sent than the manifest claims
    const fewer = offer(store, "web01", file, archive);
    await sendNeeded(fewer.upload, archive, fewer.needed);
    const rawOfTwo = archive.raws[0]!.length + archive.raws[1]!.length;
    await expectCode(fewer.upload.commit({ ...header, chunks: 2, rawSize: rawOfTwo }), "BAD_FRAME");
    expect(await filesUnder(join(root, "web01"))).toEqual([]);
    expect(store.list("web01")).toEqual([]);
    expect(store.stagingFiles("web01").length).toBe(1);
  });
});

describe("file-system failures", () => {
  test("a storage root that cannot be created is STORAGE naming it; a full disk maps to NO_SPACE", async () => {
    const root = await newRoot();
    await writeFile(join(root, "plain-file"), "x");
    const err = await expectCode(Store.open(join(root, "plain-file", "backup")), "STORAGE");
    expect(err.message).toContain(join(root, "plain-file", "backup"));
    expect(asStorageError(Object.assign(new Error("no space left"), { code: "ENOSPC" }), "writing x").code).toBe("NO_SPACE");
    const own = new HashRelayError("HASH_MISMATCH", "m");
    expect(asStorageError(own, "y")).toBe(own);
  });
});

describe("dedup is per client", () => {
  test("client B is asked for every chunk client A already stored", async () => {
    const root = await newRoot();
    const store = await Store.open(root, { now: () => T0 });
    const archive = buildArchive(randomRaws("shared", 6));
    await uploadArchive(store, "alpha", fileAt("etc", T0), archive);
    const { needed } = await uploadArchive(store, "beta", fileAt("etc", T0), archive);
    expect(needed).toEqual([true, true, true, true, true, true]);
    expect(await readBytes(join(root, "beta", fileAt("etc", T0)))).toEqual(archive.bytes);
    expect(store.chunkIndex("beta").size).toBe(6);
    expect([...store.chunkIndex("beta").values()].every((l) => l.file === fileAt("etc", T0))).toBe(true);
  });
});

describe("the index is derived data", () => {
  test("deleting .hashrelay and reopening rebuilds the same chunk index and entries", async () => {
    const root = await newRoot();
    const time = clock();
    const store = await Store.open(root, { now: time.now, retention: { keep: 3, trashForMs: HOUR } });
    await uploadArchive(store, "web01", fileAt("etc", T0), buildArchive(randomRaws("c1", 8)));
    time.advance(HOUR);
    await uploadArchive(store, "web01", fileAt("etc", T0 + HOUR), buildArchive([...randomRaws("c1", 6), seededBytes("c2", 999)]));
    await uploadArchive(store, "web02", fileAt("www", T0), buildArchive(randomRaws("w", 2)));
    await store.setReceipt("web01", fileAt("etc", T0), { body: "{}", sig: "abc", key: "ed25519:x" });
    const before = new Map(store.chunkIndex("web01"));
    const entriesBefore = store
      .list("web01")
      .map(({ archiveId, piecesSha256, size, members, file }) => ({ archiveId, piecesSha256, size, members, file }));
    expect(before.size).toBe(9);

    await rm(join(root, ".hashrelay"), { recursive: true });
    const { log, events } = recorder();
    const reopened = await Store.open(root, { log, now: time.now });
    expect(reopened.chunkIndex("web01")).toEqual(before);
    expect(
      reopened.list("web01").map(({ archiveId, piecesSha256, size, members, file }) => ({ archiveId, piecesSha256, size, members, file })),
    ).toEqual(entriesBefore);
    expect(reopened.list("web01").every((e) => e.receipt === undefined)).toBe(true);
    expect(reopened.chunkIndex("web02").size).toBe(2);
    expect(events.filter((e) => e.event === "catalog.rebuilt").length).toBe(3);
    expect(indexed(root, "web01", fileAt("etc", T0))?.members.length).toBe(8);

    // a second open uses the rebuilt index without scanning
    const quiet = recorder();
    await Store.open(root, { log: quiet.log });
    expect(quiet.events.filter((e) => e.event === "catalog.rebuilt")).toEqual([]);
  });

  test("receipts survive a reopen; a stale entry (file changed) is rebuilt without it", async () => {
    const root = await newRoot();
    const store = await Store.open(root, { now: () => T0 });
    const file = fileAt("etc", T0);
    await uploadArchive(store, "web01", file, buildArchive(randomRaws("rc", 2)));
    const receipt = { body: '{"kind":"receipt"}', sig: "xyz", key: "ed25519:k" };
    await store.setReceipt("web01", file, receipt);
    expect((await Store.open(root)).latest("web01", "etc")?.receipt).toEqual(receipt);
    await expectCode(store.setReceipt("web01", fileAt("etc", T0 + 1000), receipt), "STORAGE");
    await expectCode(store.setReceipt("web01", file, { sig: "only" } as never), "INTERNAL");

    const replaced = buildArchive(randomRaws("rc-other", 2));
    await writeFile(join(root, "web01", file), replaced.bytes);
    const rebuilt = (await Store.open(root)).latest("web01", "etc");
    expect(rebuilt?.archiveId).toBe(replaced.archiveId);
    expect(rebuilt?.receipt).toBeUndefined();
  });

  test("an index row whose members do not cover the file is replaced by a scan of the archive", async () => {
    const root = await newRoot();
    const store = await Store.open(root, { now: () => T0 });
    const file = fileAt("etc", T0);
    const archive = buildArchive(randomRaws("cc", 3));
    await uploadArchive(store, "web01", file, archive);
    await store.close();
    const db = new Database(join(root, ".hashrelay", "index.sqlite"));
    expect(db.run("DELETE FROM members WHERE seq = 0").changes).toBe(1);
    db.close();
    const { log, events } = recorder();
    const reopened = await Store.open(root, { log });
    expect(events.some((e) => e.event === "index.invalid" && e.fields.file === file)).toBe(true);
    expect(reopened.latest("web01", "etc")?.archiveId).toBe(archive.archiveId);
    expect(reopened.chunkIndex("web01").size).toBe(3);
    expect(indexed(root, "web01", file)?.members.length).toBe(3);
  });

  test("a garbage index.sqlite is moved aside and the index rebuilt; receipts are signed again on demand", async () => {
    const root = await newRoot();
    const store = await Store.open(root, { now: () => T0 });
    const file = fileAt("etc", T0);
    const archive = buildArchive(randomRaws("garbage", 4));
    await uploadArchive(store, "web01", file, archive);
    await store.setReceipt("web01", file, { body: "{}", sig: "s", key: "k" });
    const before = store.chunkIndex("web01");
    await store.close();
    const indexPath = join(root, ".hashrelay", "index.sqlite");
    for (const suffix of ["-wal", "-shm"]) await rm(indexPath + suffix, { force: true });
    const garbage = seededBytes("not sqlite", 64 * 1024);
    await writeFile(indexPath, garbage);

    const { log, events } = recorder();
    const reopened = await Store.open(root, { log, now: () => T0 + HOUR });
    expect(events.some((e) => e.event === "index.corrupt" && e.level === "warn")).toBe(true);
    const aside = join(root, ".hashrelay", `index.sqlite.corrupt-${T0 + HOUR}`);
    expect(await readBytes(aside)).toEqual(garbage); // moved, not deleted
    expect(reopened.chunkIndex("web01")).toEqual(before);
    const entry = reopened.latest("web01", "etc")!;
    expect(entry.archiveId).toBe(archive.archiveId);
    expect(entry.receipt).toBeUndefined();
    expect(indexed(root, "web01", file)?.members.length).toBe(4);
    // and the rebuilt index serves uploads: only the new chunk travels
    const next = buildArchive([...randomRaws("garbage", 4), seededBytes("garbage-new", 5000)]);
    expect((await uploadArchive(reopened, "web01", fileAt("etc", T0 + HOUR), next)).needed).toEqual([false, false, false, false, true]);

    // an index that is SQLite but fails its integrity check is treated the same way
    await reopened.close();
    const db = new Database(indexPath);
    const pageSize = db.query<{ page_size: number }, []>("PRAGMA page_size").get()!.page_size;
    db.run("PRAGMA wal_checkpoint(TRUNCATE)");
    db.close();
    const bytes = await readBytes(indexPath);
    expect(bytes.length).toBeGreaterThan(2 * pageSize);
    bytes.fill(0xa5, pageSize, bytes.length); // every page after the header page
    await writeFile(indexPath, bytes);
    const again = recorder();
    const third = await Store.open(root, { log: again.log, now: () => T0 + 2 * HOUR });
    expect(again.events.some((e) => e.event === "index.corrupt")).toBe(true);
    expect(third.latest("web01", "etc")?.archiveId).toBe(next.archiveId);
  });

  test("a damaged archive is logged and left alone, never deleted", async () => {
    const root = await newRoot();
    const store = await Store.open(root, { now: () => T0 });
    const good = fileAt("etc", T0);
    const bad = fileAt("www", T0);
    await uploadArchive(store, "web01", good, buildArchive(randomRaws("g", 3)));
    await uploadArchive(store, "web01", bad, buildArchive(randomRaws("b", 3)));
    const badPath = join(root, "web01", bad);
    await truncate(badPath, (await stat(badPath)).size - 10);
    const damagedBytes = await readFile(badPath);
    const { log, events } = recorder();
    const reopened = await Store.open(root, { log });
    expect(events.some((e) => e.event === "archive.damaged" && e.fields.file === bad && e.level === "error")).toBe(true);
    expect(reopened.list("web01").map((e) => e.file)).toEqual([good]);
    expect(await readFile(badPath)).toEqual(damagedBytes);
    // its name stays taken: no upload may overwrite it
    await expectCode(uploadArchive(reopened, "web01", bad, buildArchive(randomRaws("b2", 1))), "STORAGE");
    expect(await readFile(badPath)).toEqual(damagedBytes);
  });

  test("refreshClient: a stored archive is not rescanned; one deleted or truncated behind the server's back is no longer counted as stored", async () => {
    const root = await newRoot();
    const { log, events } = recorder();
    const store = await Store.open(root, { log, now: () => T0 });
    const etc = fileAt("etc", T0);
    const www = fileAt("www", T0);
    const etcArchive = buildArchive(randomRaws("etc", 6));
    await uploadArchive(store, "web01", etc, etcArchive);
    await uploadArchive(store, "web01", www, buildArchive(randomRaws("www", 6)));
    const indexed = () => [...store.chunkIndex("web01").keys()].length;
    expect(indexed()).toBe(12);

    await store.refreshClient("web01");
    expect(events.filter((e) => ["catalog.rebuilt", "archive.changed", "archive.vanished"].includes(e.event))).toEqual([]);

    await rm(join(root, "web01", etc));
    await store.refreshClient("web01");
    expect(store.latest("web01", "etc")).toBeUndefined();
    expect(indexed()).toBe(6);
    expect(events.find((e) => e.event === "archive.vanished")?.fields).toMatchObject({ client: "web01", file: etc });
    // so an upload of etc is asked for every chunk again
    const again = offer(store, "web01", fileAt("etc", T0 + 3600_000), etcArchive);
    expect(again.needed.every(Boolean)).toBe(true);
    await again.upload.abort();

    await truncate(join(root, "web01", www), 100);
    await store.refreshClient("web01");
    expect(store.latest("web01", "www")).toBeUndefined();
    expect(indexed()).toBe(0);
    expect(events.some((e) => e.event === "archive.damaged" && e.fields.file === www)).toBe(true);
    expect(existsSync(join(root, "web01", www))).toBe(true);
  });

  test("files that are not archives are ignored, not touched", async () => {
    const root = await newRoot();
    await mkdir(join(root, "web01"), { recursive: true });
    await mkdir(join(root, "lost+found"));
    await writeFile(join(root, "web01", "notes.txt"), "mine");
    const store = await Store.open(root);
    expect(store.list("web01")).toEqual([]);
    expect(await readFile(join(root, "web01", "notes.txt"), "utf8")).toBe("mine");
    expect(existsSync(join(root, "lost+found"))).toBe(true);
  });
});

describe("crashes", () => {
  test("leftover tmp files are removed at open, staged chunks survive it; a crash before the rename leaves the previous archive and no partial final name", async () => {
    const root = await newRoot();
    const store = await Store.open(root, { now: () => T0 });
    const first = buildArchive(randomRaws("k", 4));
    const file1 = fileAt("etc", T0);
    await uploadArchive(store, "web01", file1, first);
    // the crash: the successor was half assembled in tmp, its new chunk staged, nothing renamed
    const second = buildArchive([...randomRaws("k", 4), seededBytes("k-new", 9000)]);
    await writeFile(join(root, ".hashrelay", "tmp", "0123456789abcdef.tar.gz"), second.bytes.subarray(0, 1000));
    await mkdir(join(root, ".hashrelay", "staging", "web01"), { recursive: true });
    await writeFile(join(root, ".hashrelay", "staging", "web01", "feedfacefeedface.part"), second.members[4]!);
    await utimes(join(root, ".hashrelay", "staging", "web01", "feedfacefeedface.part"), T0 / 1000, T0 / 1000); // written at the crash
    await writeFile(join(root, ".hashrelay", "staging", "web01", "notes.txt"), "not a staging file");
    await mkdir(join(root, ".hashrelay", "staging", "Not A Client"));

    const reopened = await Store.open(root, { now: () => T0 + HOUR });
    expect(await readdir(join(root, ".hashrelay", "tmp"))).toEqual([]);
    expect(await readdir(join(root, ".hashrelay", "staging"))).toEqual(["web01"]);
    expect(await readdir(join(root, ".hashrelay", "staging", "web01"))).toEqual(["feedfacefeedface.part"]);
    expect(await readdir(join(root, "web01"))).toEqual([file1]);
    expect(await readBytes(join(root, "web01", file1))).toEqual(first.bytes);
    expect(reopened.latest("web01", "etc")?.archiveId).toBe(first.archiveId);
    // the retry after the crash works and nothing travels again: the new chunk was staged
    const { needed } = await uploadArchive(reopened, "web01", fileAt("etc", T0 + HOUR), second);
    expect(needed).toEqual([false, false, false, false, false]);
    expect(await readBytes(join(root, "web01", fileAt("etc", T0 + HOUR)))).toEqual(second.bytes);
    expect(await readdir(join(root, ".hashrelay", "staging", "web01"))).toEqual([]);
  });

  test("a crash after the rename but before the index write: both archives complete, the index catches up, retention later", async () => {
    const root = await newRoot();
    const time = clock();
    const store = await Store.open(root, { now: time.now });
    const first = buildArchive(randomRaws("m", 3));
    await uploadArchive(store, "web01", fileAt("etc", T0), first);
    // simulate: the successor reached its final name, then the process died
    const second = buildArchive(randomRaws("m2", 3));
    await writeFile(join(root, "web01", fileAt("etc", T0 + HOUR)), second.bytes);
    time.advance(2 * HOUR);
    const reopened = await Store.open(root, { now: time.now });
    expect(
      reopened
        .list("web01")
        .map((e) => e.archiveId)
        .sort(),
    ).toEqual([first.archiveId, second.archiveId].sort());
    expect(await readBytes(join(root, "web01", fileAt("etc", T0)))).toEqual(first.bytes);
  });

  test("a trashed archive whose trash time was not recorded waits a full trashFor from the next open", async () => {
    const root = await newRoot();
    const time = clock();
    const store = await Store.open(root, { now: time.now, retention: { keep: 1, trashForMs: 10 * HOUR } });
    const file1 = fileAt("etc", T0);
    await uploadArchive(store, "web01", file1, buildArchive(randomRaws("t1", 2)));
    time.advance(HOUR);
    await uploadArchive(store, "web01", fileAt("etc", T0 + HOUR), buildArchive(randomRaws("t2", 2)));
    // the trash time survives a restart
    time.advance(9 * HOUR);
    const restarted = await Store.open(root, { now: time.now });
    expect(await restarted.purgeTrash(10 * HOUR)).toEqual([]);
    time.advance(HOUR);
    expect((await restarted.purgeTrash(10 * HOUR)).map((p) => p.item)).toEqual([file1]);

    // crash between the move into the trash and the sidecar: no record
    const orphan = fileAt("etc", T0 - HOUR);
    await writeFile(join(root, ".trash", "web01", orphan), "old archive");
    const { log, events } = recorder();
    const later = await Store.open(root, { now: time.now, log });
    expect(events.some((e) => e.event === "trash.unrecorded")).toBe(true);
    expect(await later.purgeTrash(10 * HOUR)).toEqual([]);
    time.advance(10 * HOUR);
    expect((await later.purgeTrash(10 * HOUR)).map((p) => p.item)).toEqual([orphan]);
  });

  test("purge touches nothing outside the trash and keeps foreign folders", async () => {
    const root = await newRoot();
    const time = clock();
    const store = await Store.open(root, { now: time.now, retention: { keep: 1, trashForMs: 0 } });
    await mkdir(join(root, ".trash", "Not A Client"), { recursive: true });
    await writeFile(join(root, ".trash", "Not A Client", "x"), "x");
    await uploadArchive(store, "web01", fileAt("etc", T0), buildArchive(randomRaws("u1", 2)));
    time.advance(1000);
    await uploadArchive(store, "web01", fileAt("etc", T0 + 1000), buildArchive(randomRaws("u2", 2)));
    expect((await store.purgeTrash()).length).toBe(1);
    expect(await readFile(join(root, ".trash", "Not A Client", "x"), "utf8")).toBe("x");
    expect(await readdir(join(root, "web01"))).toEqual([fileAt("etc", T0 + 1000)]);
  });
});
