// Every span of the chunk index in memory, by archive and by source: lookups resolve spans without a query each.
import type { IndexStatements, SpanSqlRow } from "./index-schema.ts";

/** A span with the archive it belongs to. */
export interface SpanOf extends SpanSqlRow {
  archive: number;
}

/**
 * The spans as they were when loaded (reload after any change to the index). They are few: one per
 * stretch an archive reuses, so a handful per backup around each change, not one per member.
 */
export class SpanBook {
  private readonly byArchive = new Map<number, SpanOf[]>();
  private readonly bySource = new Map<number, SpanOf[]>();
  private readonly live: Set<number>;

  private constructor(spans: SpanOf[], live: number[]) {
    this.live = new Set(live);
    for (const span of spans) {
      push(this.byArchive, span.archive, span);
      push(this.bySource, span.source, span);
    }
  }

  /** The index's spans and live archives now. */
  static load(q: IndexStatements): SpanBook {
    return new SpanBook(
      q.allSpans.all(),
      q.order.all().map((row) => row.id),
    );
  }

  /** The spans of archive `archive`, by first_seq. */
  of(archive: number): readonly SpanOf[] {
    return this.byArchive.get(archive) ?? [];
  }

  /** The spans of live archives that lend row `seq` of archive `source`. */
  lending(source: number, seq: number): SpanOf[] {
    return (this.bySource.get(source) ?? []).filter((s) => this.live.has(s.archive) && covers(s, source, seq));
  }
}

/** True when `span` lends row `seq` of archive `source`. */
export function covers(span: SpanSqlRow, source: number, seq: number): boolean {
  return span.source === source && span.source_seq <= seq && seq < span.source_seq + span.count;
}

function push(map: Map<number, SpanOf[]>, key: number, span: SpanOf): void {
  const list = map.get(key);
  if (list) list.push(span);
  else map.set(key, [span]);
}
