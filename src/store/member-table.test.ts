// Member tables spooled by pages (an archive of millions of members costs a page of RAM), and the chunk cap a 1 TiB source needs.
import { describe, expect, test } from "bun:test";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { CHUNK_AVG, MAX_CHUNKS_PER_ARCHIVE } from "../protocol/constants.ts";
import { MemberTable } from "./member-table.ts";
import { checkUploadHeader } from "./upload-commit.ts";
import { tempRoots } from "./test-fixtures.ts";

const newRoot = tempRoots("hr-members-");

/** Member i's made-up fields, distinct per member. */
function fieldsOf(i: number) {
  const id = new Uint8Array(32).fill(i % 251);
  new DataView(id.buffer).setUint32(0, i);
  const sha = new Uint8Array(32).fill((i * 7) % 253);
  // every third member without an XXH3-64 (a row from before it was recorded)
  const xxh3 = i % 3 === 0 ? undefined : new Uint8Array(8).fill((i * 11) % 256);
  return { id, sha, xxh3, offset: i * 70_000, length: 60_000 + (i % 5000), raw: 65_536 + (i % 9000) };
}

describe("MemberTable", () => {
  test("full pages go to the spool file; members read back exactly, by index and by page, and dispose removes the spool", async () => {
    const spool = join(await newRoot(), "t.members");
    const table = new MemberTable(spool, 1000);
    const count = 10_500;
    for (let i = 0; i < count; i++) {
      const f = fieldsOf(i);
      table.push(f.id, f.offset, f.length, f.raw, f.sha, undefined, f.xxh3);
    }
    expect(table.count).toBe(count);
    // ten full pages are on disk (93 bytes a member); the eleventh, partly filled, is the only one in memory
    expect(statSync(spool).size).toBe(10 * 1000 * 93);
    for (const i of [0, 999, 1000, 5_432, 9_999, 10_000, 10_499, 3]) {
      const f = fieldsOf(i);
      expect([table.offset(i), table.length(i), table.rawLength(i)]).toEqual([f.offset, f.length, f.raw]);
      expect(table.id(i)).toEqual(f.id);
      expect(table.sha256(i)).toEqual(f.sha);
      expect(table.xxh3(i)).toEqual(f.xxh3 ?? null);
    }
    let seen = 0;
    for (const page of table.pages()) {
      for (let k = 0; k < page.count; k++) {
        expect(page.offset(k)).toBe(fieldsOf(page.first + k).offset);
        expect(page.id(k)).toEqual(fieldsOf(page.first + k).id);
        expect(page.xxh3(k)).toEqual(fieldsOf(page.first + k).xxh3 ?? null);
      }
      seen += page.count;
    }
    expect(seen).toBe(count);
    table.dispose();
    expect(existsSync(spool)).toBe(false);
    expect(table.count).toBe(0);
  });

  test("a page that fills exactly is read back before and after the next member starts a new one", () => {
    const table = new MemberTable(undefined, 4);
    for (let i = 0; i < 8; i++) table.push(fieldsOf(i).id, fieldsOf(i).offset, 1, 2, fieldsOf(i).sha);
    expect([...table.pages()].map((p) => [p.first, p.count])).toEqual([
      [0, 4],
      [4, 4],
    ]);
    expect(table.offset(7)).toBe(fieldsOf(7).offset);
    table.push(fieldsOf(8).id, fieldsOf(8).offset, 1, 2, fieldsOf(8).sha);
    expect(table.records().map(([, offset]) => offset)).toEqual(Array.from({ length: 9 }, (_, i) => fieldsOf(i).offset));
  });
});

describe("no size cliff", () => {
  test("a 1 TiB source of 64 KiB chunks fits the chunk cap with room to spare", () => {
    const chunks = 2 ** 40 / CHUNK_AVG;
    expect(MAX_CHUNKS_PER_ARCHIVE).toBeGreaterThanOrEqual(4 * chunks);
    const header = { name: "www", file: "backup-www-00-00-03-2026-01-10.tar.gz", archiveId: "a".repeat(64), chunks: chunks + 1 };
    expect(() => checkUploadHeader({ ...header, rawSize: 2 ** 40 + 1 })).not.toThrow();
  });
});
