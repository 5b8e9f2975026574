// The order of id records (an id, then the big-endian index of its chunk): ascending by id, then by index.
import { ID_RECORD_BYTES } from "./source-index-records.ts";

/** Records one in-memory sort may order: their position takes the low 21 bits of a 53-bit sort key. */
export const MAX_SORTED_RECORDS = 2 ** 21;
const POSITION_SPAN = 2 ** 21;

/**
 * Compares record `a` at `aAt` with record `b` at `bAt` byte by byte over all ID_RECORD_BYTES:
 * since the index is big-endian, that is by id, then by index. Negative, zero or positive.
 */
export function compareIdRecords(a: Uint8Array, aAt: number, b: Uint8Array, bAt: number): number {
  for (let i = 0; i < ID_RECORD_BYTES; i++) {
    const d = a[aAt + i]! - b[bAt + i]!;
    if (d !== 0) return d;
  }
  return 0;
}

/** Whether the records at `aAt` and `bAt` carry the same id (their indexes aside). */
export function sameRecordId(a: Uint8Array, aAt: number, b: Uint8Array, bAt: number): boolean {
  for (let i = 0; i < 32; i++) if (a[aAt + i] !== b[bAt + i]) return false;
  return true;
}

/** The record's first four bytes as a number: the order of most records, compared as one number. */
export function recordPrefix(records: Uint8Array, at: number): number {
  return ((records[at]! << 24) | (records[at + 1]! << 16) | (records[at + 2]! << 8) | records[at + 3]!) >>> 0;
}

/**
 * The positions of the first `count` records of `records` (at most MAX_SORTED_RECORDS), in record
 * order (compareIdRecords; equal records by position). `keys` is scratch of at least `count`
 * numbers. Sorts numbers natively (prefix, position), then orders only the runs of equal prefixes
 * byte by byte: random ids rarely share four bytes, so the costly comparisons stay few.
 */
export function sortIdRecords(records: Uint8Array, count: number, keys: Float64Array): Uint32Array {
  if (count > MAX_SORTED_RECORDS) throw new RangeError(`more than ${MAX_SORTED_RECORDS} records to sort`);
  const sorted = keys.subarray(0, count);
  for (let r = 0; r < count; r++) sorted[r] = recordPrefix(records, r * ID_RECORD_BYTES) * POSITION_SPAN + r;
  sorted.sort();
  const order = new Uint32Array(count);
  for (let r = 0; r < count; r++) order[r] = sorted[r]! % POSITION_SPAN;
  for (let start = 0; start < count; ) {
    const prefix = Math.floor(sorted[start]! / POSITION_SPAN);
    let end = start + 1;
    while (end < count && Math.floor(sorted[end]! / POSITION_SPAN) === prefix) end++;
    if (end - start > 1) orderTies(records, order, start, end);
    start = end;
  }
  return order;
}

/** Orders `order[start, end)` (positions of records sharing a prefix) byte by byte, equal records by position. */
function orderTies(records: Uint8Array, order: Uint32Array, start: number, end: number): void {
  const tied = Array.from(order.subarray(start, end));
  tied.sort((a, b) => compareIdRecords(records, a * ID_RECORD_BYTES, records, b * ID_RECORD_BYTES) || a - b);
  order.set(tied, start);
}
