// An archive's members in the index: its own rows, and spans that lend it another archive's rows at an offset shift.
//
// A backup that reuses its predecessor's members unchanged (cloned or copied, the same bytes) records
// each stretch of them as one span row, not one row per member: the index writes what changed. A span
// always names the archive that owns the rows (never another span), so a lookup resolves in one step.
// An archive removed while its rows are lent stays as a retired row (live = 0) with its members and
// spans, and goes with the last span that names it.
import { HashRelayError } from "../errors.ts";
import type { IndexStatements, MemberSqlRow } from "./index-schema.ts";
import type { MemberTable, ReusedRun } from "./member-table.ts";
import type { SpanBook } from "./span-book.ts";

/** Members [first, first + count) of an archive are rows [sourceSeq, …) of archive `source`, `shift` bytes further on. */
export interface Piece {
  first: number;
  count: number;
  source: number;
  sourceSeq: number;
  shift: number;
}

/** The pieces covering members [from, to) of archive `archive`, in order: its spans, and its own rows between them. */
export function* pieces(book: SpanBook, archive: number, from: number, to: number): Generator<Piece> {
  let at = from;
  const spans = book.of(archive);
  for (let i = firstEndingAfter(spans, from); i < spans.length && spans[i]!.first_seq < to; i++) {
    const s = spans[i]!;
    if (s.first_seq > at) yield { first: at, count: s.first_seq - at, source: archive, sourceSeq: at, shift: 0 };
    at = Math.max(at, s.first_seq);
    const end = Math.min(to, s.first_seq + s.count);
    yield { first: at, count: end - at, source: s.source, sourceSeq: s.source_seq + (at - s.first_seq), shift: s.shift };
    at = end;
  }
  if (at < to) yield { first: at, count: to - at, source: archive, sourceSeq: at, shift: 0 };
}

/** Members [from, from + limit) of archive `archive` in order, offsets in its own file; fewer past its end. */
export function membersIn(q: IndexStatements, book: SpanBook, archive: number, from: number, limit: number): MemberSqlRow[] {
  const out: MemberSqlRow[] = [];
  for (const p of pieces(book, archive, from, from + limit)) {
    for (const row of q.rowsIn.all(p.source, p.sourceSeq, p.sourceSeq + p.count)) {
      row.offset += p.shift;
      out.push(row);
    }
  }
  return out;
}

/**
 * Raw bytes of archive `next`'s members [0, count) whose chunk archive `previous` has too. A member
 * `next` takes from `previous`'s own rows, or from rows of a third archive that `previous` takes too,
 * is in `previous` by position: those stretches are summed in SQLite, one query each. Every other
 * member (the few a backup changed, or all of them when nothing is reused) is read a page of `pageRows`
 * at a time and asked about with `inPrevious` (its chunk id, hex).
 */
export function sharedRaw(
  q: IndexStatements,
  book: SpanBook,
  span: { next: number; previous: number; count: number; pageRows: number },
  inPrevious: (id: string) => boolean,
): number {
  const { next, previous, count, pageRows } = span;
  let raw = 0;
  for (const p of pieces(book, next, 0, count)) {
    const end = p.sourceSeq + p.count;
    const held = p.source === previous ? [{ from: p.sourceSeq, to: end }] : rowsLentTo(book, previous, p.source);
    for (const part of coverOf(p.sourceSeq, end, held)) {
      if (part.covered) raw += q.rawIn.get(p.source, part.from, part.to)?.raw ?? 0;
      else
        for (let at = part.from; at < part.to; at += pageRows)
          for (const row of q.rowsIn.all(p.source, at, Math.min(part.to, at + pageRows))) if (inPrevious(row.id)) raw += row.raw_length;
    }
  }
  return raw;
}

/** The rows of archive `source` that archive `archive`'s spans take, as ranges [from, to) sorted by from. */
function rowsLentTo(book: SpanBook, archive: number, source: number): { from: number; to: number }[] {
  return book
    .of(archive)
    .filter((s) => s.source === source)
    .map((s) => ({ from: s.source_seq, to: s.source_seq + s.count }))
    .sort((a, b) => a.from - b.from);
}

/** [from, to) cut into the parts that `ranges` (sorted by from, may overlap) cover and those they do not, in order. */
export function coverOf(
  from: number,
  to: number,
  ranges: readonly { from: number; to: number }[],
): { from: number; to: number; covered: boolean }[] {
  const parts: { from: number; to: number; covered: boolean }[] = [];
  let at = from;
  for (const r of ranges) {
    if (r.to <= at) continue;
    if (r.from >= to) break;
    if (r.from > at) parts.push({ from: at, to: r.from, covered: false });
    const end = Math.min(to, r.to);
    parts.push({ from: Math.max(at, r.from), to: end, covered: true });
    at = end;
  }
  if (at < to) parts.push({ from: at, to, covered: false });
  return parts;
}

/**
 * Records the members of archive row `id` (just inserted, without members): each reused run as the
 * spans it resolves to, every other member as its own row. Call it inside the transaction that
 * inserted the row. A run's source may have been retired meanwhile (another name's retention): it
 * still resolves. Throws STORAGE when it is gone altogether (nothing named its rows: the archive is
 * then scanned into the index before the client's next backup, index-sync.ts).
 */
export function recordMembers(q: IndexStatements, book: SpanBook, id: number, table: MemberTable): void {
  let pending: Piece | null = null;
  for (const run of table.reused) {
    if (!q.isLive.get(run.archive))
      throw new HashRelayError("STORAGE", `the chunk index lost archive row ${run.archive}, which the new archive reuses members of`);
    for (const span of resolve(book, run)) {
      if (pending && continues(pending, span)) pending.count += span.count;
      else {
        if (pending) insertSpan(q, id, pending);
        pending = span;
      }
    }
  }
  if (pending) insertSpan(q, id, pending);
  for (const page of table.pages()) {
    for (let k = 0; k < page.count; k++)
      q.insertMember.run(id, page.index(k), page.id(k), page.offset(k), page.length(k), page.rawLength(k), page.sha256(k), page.xxh3(k));
  }
}

/**
 * Forgets archive row `id`. While a span names its rows it is only retired (unlisted, no longer a place,
 * its own spans kept so it still resolves); otherwise it goes with its rows and spans, and so does each
 * retired archive those spans named that nothing names any more.
 */
export function forgetArchive(q: IndexStatements, id: number): void {
  if (q.referenced.get(id)) {
    q.retire.run(id);
    return;
  }
  const doomed = [id];
  for (let next = doomed.pop(); next !== undefined; next = doomed.pop()) {
    const sources = q.spanSources.all(next).map((row) => row.source);
    q.deleteSpans.run(next);
    q.deleteMembers.run(next);
    q.deleteArchive.run(next);
    for (const source of sources) if (q.isLive.get(source)?.live === 0 && !q.referenced.get(source)) doomed.push(source);
  }
}

/** The spans (in the new archive's numbering) a reused run comes to: through its source's own spans to the rows' owners. */
function* resolve(book: SpanBook, run: ReusedRun): Generator<Piece> {
  for (const p of pieces(book, run.archive, run.seq, run.seq + run.count)) {
    yield { first: run.first + (p.first - run.seq), count: p.count, source: p.source, sourceSeq: p.sourceSeq, shift: run.shift + p.shift };
  }
}

/** True when `next` goes on where `span` ends: the same owner, the next rows, the same shift. */
function continues(span: Piece, next: Piece): boolean {
  return (
    next.first === span.first + span.count &&
    next.source === span.source &&
    next.sourceSeq === span.sourceSeq + span.count &&
    next.shift === span.shift
  );
}

function insertSpan(q: IndexStatements, id: number, span: Piece): void {
  q.insertSpan.run(id, span.first, span.count, span.source, span.sourceSeq, span.shift);
}

/** Index of the first of `spans` (by first_seq, not overlapping) that ends after `seq`; spans.length when none does. */
function firstEndingAfter(spans: readonly { first_seq: number; count: number }[], seq: number): number {
  let lo = 0;
  let hi = spans.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (spans[mid]!.first_seq + spans[mid]!.count <= seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
