// Members read a page ahead: one query per page along a run, a new one elsewhere or after a change.
import { describe, expect, test } from "bun:test";
import type { MemberSqlRow } from "./index-schema.ts";
import { MemberReadAhead } from "./member-read-ahead.ts";

/** Archives 1 and 2 of 600 members each; `reads` lists every query. */
function members() {
  const reads: [number, number, number][] = [];
  const read = (archive: number, from: number, limit: number): MemberSqlRow[] => {
    reads.push([archive, from, limit]);
    const rows: MemberSqlRow[] = [];
    for (let seq = from; seq < Math.min(600, from + limit); seq++)
      rows.push({ archive, seq, id: `${archive}/${seq}`, offset: seq, length: 1, raw_length: 1, sha: new Uint8Array(32), xxh: null });
    return rows;
  };
  return { reads, ahead: new MemberReadAhead(read, 256) };
}

describe("MemberReadAhead", () => {
  test("a walk along a run reads a page at a time; another archive or a forget reads again", () => {
    const { reads, ahead } = members();
    for (let seq = 1; seq < 600; seq++) expect(ahead.at(1, seq)?.id).toBe(`1/${seq}`);
    expect(reads).toEqual([
      [1, 1, 256],
      [1, 257, 256],
      [1, 513, 256],
    ]);
    expect(ahead.at(1, 600)).toBeUndefined();
    expect(ahead.at(2, 5)?.id).toBe("2/5");
    expect(ahead.at(1, 300)?.id).toBe("1/300");
    expect(ahead.at(1, 301)?.id).toBe("1/301");
    ahead.forget();
    expect(ahead.at(1, 302)?.id).toBe("1/302");
    expect(reads.slice(3)).toEqual([
      [1, 600, 256],
      [2, 5, 256],
      [1, 300, 256],
      [1, 302, 256],
    ]);
  });
});
