// The chunk index's spans: reused members recorded as one row per stretch, resolved by every lookup, kept while lent.
import { afterEach, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { archiveFileName } from "../archive/naming.ts";
import { ChunkIndex } from "./chunk-index.ts";
import { SCHEMA_VERSION, prepareStatements } from "./index-schema.ts";
import { memberXxh3 } from "./archive-file.ts";
import { coverOf, sharedRaw } from "./index-spans.ts";
import { SpanBook } from "./span-book.ts";
import type { ArchiveRow } from "./index-entry.ts";
import { MemberTable } from "./member-table.ts";
import { Store, type StoreLog } from "./store.ts";
import { buildArchive, seededBytes, uploadArchive } from "./test-fixtures.ts";

const MEMBER = 100;
let dir = "";
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function openIndex(): Promise<ChunkIndex> {
  dir = await mkdtemp(join(tmpdir(), "hr-spans-"));
  return ChunkIndex.open(join(dir, "index.sqlite"), () => {}, 0);
}

/** Chunk id number n: 32 bytes of n. */
const chunk = (n: number) => new Uint8Array(32).fill(n);
const hex = (n: number) => Buffer.from(chunk(n)).toString("hex");

function row(file: string, size: number, hour: number): ArchiveRow {
  const storedAt = new Date(Date.UTC(2026, 0, 1, hour)).toISOString();
  return { client: "web01", name: "www", file, archiveId: "a", fileSha256: "f", size, mtimeMs: 0, storedAt };
}

/**
 * An archive of chunks `ids`, members of MEMBER bytes end to end after `lead` bytes of fillers; the
 * members numbered in `reuse` are taken from `previous` (its file) unchanged, the rest are new.
 */
function archive(index: ChunkIndex, file: string, hour: number, ids: number[], lead = 0, previous?: string): MemberTable {
  const table = new MemberTable();
  for (const [i, id] of ids.entries()) {
    const offset = lead + i * MEMBER;
    const from = previous ? index.locate("web01", chunk(id), (f) => f === previous) : undefined;
    table.push(
      chunk(id),
      offset,
      MEMBER,
      1000 + id,
      chunk(id + 100),
      from && { archive: from.archive, seq: from.seq, offset: from.offset },
    );
  }
  index.put(row(file, lead + ids.length * MEMBER, hour), table);
  return table;
}

function spanCount(index: ChunkIndex): { members: number; spans: number } {
  const db = new Database(index.path, { readonly: true });
  try {
    const members = db.query<{ n: number }, []>("SELECT COUNT(*) AS n FROM members").get()!.n;
    const spans = db.query<{ n: number }, []>("SELECT COUNT(*) AS n FROM spans").get()!.n;
    return { members, spans };
  } finally {
    db.close();
  }
}

describe("spans", () => {
  test("a reused stretch is one span; lookups see the successor's own places; the retired predecessor lends its rows until the last user goes", async () => {
    const index = await openIndex();
    archive(index, "a", 1, [1, 2, 3, 4, 5, 6]);
    // b: chunk 4 replaced by 40, everything shifted by a 30-byte filler: two spans and one row of its own
    archive(index, "b", 2, [1, 2, 3, 40, 5, 6], 30, "a");
    expect(spanCount(index)).toEqual({ members: 7, spans: 2 });
    expect(index.members("web01", "b")).toEqual([1, 2, 3, 40, 5, 6].map((id, i) => [hex(id), 30 + i * MEMBER, MEMBER, 1000 + id]));
    expect(index.memberCount("web01", "b")).toBe(6);
    expect(index.recorded().find((r) => r.file === "b")?.consistent).toBe(true);
    // the newest archive holding a chunk is where it is found
    expect(index.locate("web01", chunk(5))).toMatchObject({ file: "b", seq: 4, offset: 30 + 4 * MEMBER, rawLength: 1005 });
    expect(index.next({ archive: index.locate("web01", chunk(3))!.archive, seq: 2 }, chunk(40))?.offset).toBe(30 + 3 * MEMBER);
    const inA = index.locate("web01", chunk(2), (file) => file === "a")!;
    // a: trashed; its rows stay for b, but a is no longer listed nor a place
    index.remove("web01", "a");
    expect(index.archives("web01").map((a) => a.file)).toEqual(["b"]);
    expect(index.has("web01", chunk(1))).toBe(true);
    expect(index.has("web01", chunk(4))).toBe(false);
    expect(index.locate("web01", chunk(1))?.file).toBe("b");
    expect(spanCount(index)).toEqual({ members: 7, spans: 2 });
    // an upload that found its members in a before a was retired (another name's retention) still records them as a span
    const late = new MemberTable();
    late.push(chunk(2), 0, MEMBER, 1002, chunk(102), { archive: inA.archive, seq: inA.seq, offset: inA.offset });
    index.put(row("x", MEMBER, 2), late);
    expect(index.members("web01", "x")).toEqual([[hex(2), 0, MEMBER, 1002]]);
    index.remove("web01", "x");
    expect(spanCount(index)).toEqual({ members: 7, spans: 2 });
    // c reuses b: its spans name a's rows directly (one step), with the shifts added up
    archive(index, "c", 3, [1, 2, 3, 40, 5, 6, 7], 0, "b");
    expect(index.members("web01", "c").map(([id, offset]) => [id, offset])).toEqual(
      [1, 2, 3, 40, 5, 6, 7].map((id, i) => [hex(id), i * MEMBER]),
    );
    expect(index.replacementTotals("web01", "b", "c")).toMatchObject({ sharedRaw: 1001 + 1002 + 1003 + 1040 + 1005 + 1006 });
    index.remove("web01", "b");
    expect(index.members("web01", "c").map(([id]) => id)).toEqual([1, 2, 3, 40, 5, 6, 7].map(hex));
    expect(index.recorded().map((r) => [r.file, r.consistent])).toEqual([["c", true]]);
    // d keeps only chunk 40 of c (b's row): once c goes, a's rows are named by retired b's spans alone, which lend nothing
    archive(index, "d", 4, [40, 8], 0, "c");
    index.remove("web01", "c");
    expect(index.members("web01", "d")).toEqual([40, 8].map((id, i) => [hex(id), i * MEMBER, MEMBER, 1000 + id]));
    expect(index.has("web01", chunk(1))).toBe(false);
    expect(index.locate("web01", chunk(1))).toBeUndefined();
    expect(index.locate("web01", chunk(40))?.file).toBe("d");
    // the last user gone: no row is left behind
    index.remove("web01", "d");
    expect(spanCount(index)).toEqual({ members: 0, spans: 0 });
    expect(index.has("web01", chunk(40))).toBe(false);
    index.close();
  });

  test("the member after a place follows runs across pages of the index, and nothing once its archive went", async () => {
    const index = await openIndex();
    const ids = Array.from({ length: 600 }, (_, i) => (i % 250) + 1);
    archive(index, "a", 1, ids);
    let place = index.locate("web01", chunk(1), (f) => f === "a")!;
    for (let seq = 1; seq < ids.length; seq++) {
      const next = index.next(place, chunk(ids[seq]!));
      expect(next).toMatchObject({ file: "a", seq, offset: seq * MEMBER, rawLength: 1000 + ids[seq]! });
      place = next!;
    }
    expect(index.next(place, chunk(1))).toBeUndefined();
    const first = index.locate("web01", chunk(1))!;
    index.remove("web01", "a");
    expect(index.next(first, chunk(2))).toBeUndefined();
    index.close();
  });

  test("an archive nobody reuses is forgotten with its rows; a run whose source is gone fails the put, nothing recorded", async () => {
    const index = await openIndex();
    archive(index, "a", 1, [1, 2, 3]);
    const table = new MemberTable();
    const from = index.locate("web01", chunk(2))!;
    index.remove("web01", "a");
    expect(spanCount(index)).toEqual({ members: 0, spans: 0 });
    table.push(chunk(2), 0, MEMBER, 1002, chunk(102), { archive: from.archive, seq: from.seq, offset: from.offset });
    expect(() => index.put(row("b", MEMBER, 2), table)).toThrow(/lost archive row/);
    expect(index.archive("web01", "b")).toBeUndefined();
    index.close();
  });

  test("a table of reused runs holds records only for the members that are not reused", () => {
    const table = new MemberTable(undefined, 4);
    for (let i = 0; i < 10; i++) {
      const from = i === 6 ? undefined : { archive: 7, seq: i, offset: i * MEMBER };
      table.push(chunk(i), 50 + i * MEMBER, MEMBER, 1000 + i, chunk(i + 100), from);
    }
    expect([table.count, table.rows]).toEqual([10, 1]);
    expect(table.reused).toEqual([
      { first: 0, count: 6, archive: 7, seq: 0, shift: 50 },
      { first: 7, count: 3, archive: 7, seq: 7, shift: 50 },
    ]);
    const [page] = [...table.pages()];
    expect([page!.count, page!.index(0), page!.offset(0)]).toEqual([1, 6, 50 + 6 * MEMBER]);
  });
});

/** The index as schema version 1 laid it out (before spans): what a server of that version left behind. */
const VERSION_1 = `
CREATE TABLE archives (id INTEGER PRIMARY KEY AUTOINCREMENT, client TEXT NOT NULL, file TEXT NOT NULL, name TEXT NOT NULL,
  archive_id TEXT NOT NULL, file_sha256 TEXT NOT NULL, size INTEGER NOT NULL, mtime_ms REAL NOT NULL, stored_at TEXT NOT NULL,
  receipt TEXT, UNIQUE (client, file));
CREATE TABLE members (archive INTEGER NOT NULL, seq INTEGER NOT NULL, client TEXT NOT NULL, chunk_id BLOB NOT NULL,
  offset INTEGER NOT NULL, length INTEGER NOT NULL, raw_length INTEGER NOT NULL, member_sha256 BLOB NOT NULL,
  PRIMARY KEY (archive, seq)) WITHOUT ROWID;
CREATE INDEX members_by_chunk ON members (client, chunk_id);
PRAGMA user_version = 1;
`;

describe("shared raw bytes, as the ransomware guard judges a replacement", () => {
  /** sharedRaw of `next` against `previous`, read through a second connection; `probes`: the chunk ids it asked about one by one. */
  function shared(index: ChunkIndex, next: string, previous: string): { raw: number; probes: string[] } {
    const db = new Database(index.path, { readonly: true });
    try {
      const q = prepareStatements(db);
      const id = (file: string) => q.archive.get("web01", file)!.id;
      const previousChunks = new Set(index.members("web01", previous).map(([chunkId]) => chunkId));
      const probes: string[] = [];
      const span = { next: id(next), previous: id(previous), count: index.memberCount("web01", next), pageRows: 2 };
      const raw = sharedRaw(q, SpanBook.load(q), span, (chunkId) => (probes.push(chunkId), previousChunks.has(chunkId)));
      return { raw, probes };
    } finally {
      db.close();
    }
  }

  test("members reused from the previous archive, or from rows it reuses too, are summed without a probe each", async () => {
    const index = await openIndex();
    archive(index, "a", 1, [1, 2, 3, 4, 5, 6]);
    archive(index, "b", 2, [1, 2, 3, 40, 5, 6], 30, "a");
    // c takes 40 from b's own rows and the others from a's rows through b's spans; 7 is new
    archive(index, "c", 3, [1, 2, 3, 40, 5, 6, 7], 0, "b");
    expect(shared(index, "c", "b")).toEqual({ raw: 1001 + 1002 + 1003 + 1040 + 1005 + 1006, probes: [hex(7)] });
    expect(index.replacementTotals("web01", "b", "c")).toMatchObject({ sharedRaw: 1001 + 1002 + 1003 + 1040 + 1005 + 1006 });
    // d reuses nothing (its own rows, read two at a time): every member is asked about
    archive(index, "d", 4, [1, 40, 9, 4, 7]);
    expect(shared(index, "d", "c")).toEqual({ raw: 1001 + 1040 + 1007, probes: [1, 40, 9, 4, 7].map(hex) });
    index.close();
  });

  test("a stretch is cut into what the ranges cover and what they do not, overlapping ranges merged", () => {
    expect(coverOf(0, 10, [])).toEqual([{ from: 0, to: 10, covered: false }]);
    expect(
      coverOf(2, 12, [
        { from: 0, to: 3 },
        { from: 5, to: 8 },
        { from: 6, to: 9 },
        { from: 11, to: 20 },
      ]),
    ).toEqual([
      { from: 2, to: 3, covered: true },
      { from: 3, to: 5, covered: false },
      { from: 5, to: 8, covered: true },
      { from: 8, to: 9, covered: true },
      { from: 9, to: 11, covered: false },
      { from: 11, to: 12, covered: true },
    ]);
  });
});

describe("an index of schema version 1", () => {
  test("is replaced at open by one rebuilt from the archives: lookups as before, nothing left aside", async () => {
    dir = await mkdtemp(join(tmpdir(), "hr-upgrade-"));
    const file = archiveFileName("etc", new Date(T0));
    const archive = buildArchive(Array.from({ length: 5 }, (_, i) => seededBytes(`upgrade-${i}`, 20_000)));
    const store = await Store.open(dir, { now: () => T0 });
    await uploadArchive(store, "web01", file, archive);
    const before = store.chunkIndex("web01");
    await store.close();
    const path = join(dir, ".hashrelay", "index.sqlite");
    for (const suffix of ["", "-wal", "-shm"]) await rm(path + suffix, { force: true });
    const old = new Database(path, { create: true });
    old.run(VERSION_1);
    old.close();

    const events: string[] = [];
    const log: StoreLog = (_level, event) => events.push(event);
    const reopened = await Store.open(dir, { log, now: () => T0 + 1000 });
    expect(events).toContain("index.upgrade");
    expect(events).not.toContain("index.corrupt");
    expect(reopened.chunkIndex("web01")).toEqual(before);
    expect(reopened.latest("web01", "etc")?.members.length).toBe(5);
    await reopened.close();
    const db = new Database(path, { readonly: true });
    expect(db.query<{ user_version: number }, []>("PRAGMA user_version").get()!.user_version).toBe(SCHEMA_VERSION);
    db.close();
    expect((await readdir(join(dir, ".hashrelay"))).filter((f) => f.includes("corrupt"))).toEqual([]);
    expect(existsSync(path)).toBe(true);
  });
});

/** The members' rows of the index at `path`: place and XXH3-64 (null when not recorded). */
function xxh3Rows(path: string): { archive: number; seq: number; xxh: Uint8Array | null }[] {
  const db = new Database(path, { readonly: true });
  const rows = db
    .query<{ archive: number; seq: number; xxh: Uint8Array | null }, []>(
      "SELECT archive, seq, member_xxh3 AS xxh FROM members ORDER BY archive, seq",
    )
    .all();
  db.close();
  return rows;
}

const T0 = Date.UTC(2026, 0, 10, 3);
const hexOf = (b: Uint8Array | null) => (b ? Buffer.from(b).toString("hex") : null);

/**
 * A store whose index was made before the XXH3-64 column (its one archive of five members uploaded, then
 * the column dropped), opened again an hour later: the column comes back empty in those rows.
 */
async function storeOfOldIndex() {
  dir = await mkdtemp(join(tmpdir(), "hr-xxh3-"));
  const raws = Array.from({ length: 5 }, (_, i) => seededBytes(`xxh3-${i}`, 20_000));
  const first = buildArchive(raws);
  const file = archiveFileName("etc", new Date(T0));
  const store = await Store.open(dir, { now: () => T0 });
  await uploadArchive(store, "web01", file, first);
  await store.close();
  const path = join(dir, ".hashrelay", "index.sqlite");
  const old = new Database(path);
  old.run("ALTER TABLE members DROP COLUMN member_xxh3");
  old.close();
  return { raws, first, file, path, store: await Store.open(dir, { now: () => T0 + 3_600_000 }) };
}

describe("an index of schema version 2 made before the members' XXH3-64", () => {
  test("gains the column at open: its rows stay without one (copies check them by SHA-256), new rows record it", async () => {
    const { raws, path, store: reopened } = await storeOfOldIndex();
    // the second archive: the first's five members (reused, checked by SHA-256) and two new ones
    const second = buildArchive([...raws, seededBytes("xxh3-new-0", 20_000), seededBytes("xxh3-new-1", 20_000)]);
    const { needed } = await uploadArchive(reopened, "web01", archiveFileName("etc", new Date(T0 + 3_600_000)), second);
    expect(needed).toEqual([false, false, false, false, false, true, true]);
    await reopened.close();
    const rows = xxh3Rows(path);
    expect(rows.filter((r) => r.xxh === null).length).toBe(5);
    const recorded = rows.filter((r) => r.xxh !== null);
    expect(recorded.map((r) => hexOf(r.xxh))).toEqual([hexOf(memberXxh3(second.members[5]!)), hexOf(memberXxh3(second.members[6]!))]);
  });

  test("a scrub records the XXH3-64 of the old rows it finds intact, and the next backup's copy checks them by it", async () => {
    const { raws, first, file, path, store: reopened } = await storeOfOldIndex();
    expect(xxh3Rows(path).every((r) => r.xxh === null)).toBe(true);
    const report = await reopened.verifyArchive("web01", file, "scrub");
    expect(report.damaged).toEqual([]);
    expect(xxh3Rows(path).map((r) => hexOf(r.xxh))).toEqual(first.members.map((m) => hexOf(memberXxh3(m))));

    // the recorded SHA-256s made wrong: the next backup reuses the five members only if its copy checks them by XXH3
    const db = new Database(path);
    db.run("UPDATE members SET member_sha256 = zeroblob(32)");
    db.close();
    const second = buildArchive([...raws, seededBytes("xxh3-new-0", 20_000)]);
    const { needed } = await uploadArchive(reopened, "web01", archiveFileName("etc", new Date(T0 + 3_600_000)), second);
    expect(needed).toEqual([false, false, false, false, false, true]);
    await reopened.close();
  });
});
