// The order of id records: the fast sort (numeric prefix keys, ties byte by byte) agrees with a plain comparison sort.
import { expect, test } from "bun:test";
import fc from "fast-check";
import { MAX_SORTED_RECORDS, compareIdRecords, sortIdRecords } from "./id-record-order.ts";
import { ID_RECORD_BYTES, encodeIdRecord } from "./source-index-records.ts";

/** Records of ids drawn from few byte values, so that prefixes and whole ids repeat; index = position. */
function recordsOf(draws: number[][]): Uint8Array {
  const records = new Uint8Array(draws.length * ID_RECORD_BYTES);
  draws.forEach((d, r) => {
    const id = new Uint8Array(32);
    d.forEach((b, i) => {
      id[i * 5] = b;
    });
    encodeIdRecord(records, r * ID_RECORD_BYTES, id, r);
  });
  return records;
}

test("sortIdRecords orders like a comparison of the whole records, equal ids by position", () => {
  fc.assert(
    fc.property(fc.array(fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 7, maxLength: 7 }), { maxLength: 300 }), (draws) => {
      const records = recordsOf(draws);
      const naive = draws
        .map((_, r) => r)
        .sort((a, b) => compareIdRecords(records, a * ID_RECORD_BYTES, records, b * ID_RECORD_BYTES) || a - b);
      expect(Array.from(sortIdRecords(records, draws.length, new Float64Array(draws.length)))).toEqual(naive);
    }),
  );
});

test("sortIdRecords refuses more records than its keys can place", () => {
  expect(() => sortIdRecords(new Uint8Array(0), MAX_SORTED_RECORDS + 1, new Float64Array(0))).toThrow(RangeError);
});
