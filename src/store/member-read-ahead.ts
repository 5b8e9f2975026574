// An archive's members read a page ahead: lookups that walk along a run of members cost one query a page, not one each.
import type { MemberSqlRow } from "./index-schema.ts";

/** Members read per query (~50 KiB of rows). */
export const READ_AHEAD_ROWS = 256;

/**
 * The page of one archive's members read last. `read(archive, from, limit)` gives members [from,
 * from + limit) in order (fewer past the end). The owner calls forget() whenever the index changes.
 */
export class MemberReadAhead {
  private page: { archive: number; first: number; rows: MemberSqlRow[] } | null = null;

  constructor(
    private readonly read: (archive: number, from: number, limit: number) => MemberSqlRow[],
    private readonly pageRows = READ_AHEAD_ROWS,
  ) {}

  /** Member `seq` of archive `archive` (not to be modified), or undefined past its end; a query only when it is not in the page read last. */
  at(archive: number, seq: number): MemberSqlRow | undefined {
    const page = this.page;
    if (page && page.archive === archive && seq >= page.first && seq < page.first + page.rows.length) return page.rows[seq - page.first];
    this.page = { archive, first: seq, rows: this.read(archive, seq, this.pageRows) };
    return this.page.rows[0];
  }

  /** Drops the page: the index changed. */
  forget(): void {
    this.page = null;
  }
}
