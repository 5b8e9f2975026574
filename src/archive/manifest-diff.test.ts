import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { createHash } from "node:crypto";
import { BaseManifest, diffAgainstBase, expandDiff, UNKNOWN_ID } from "./manifest-diff.ts";
import { decodeDiffPage, encodeDiffPage } from "./manifest-diff-page.ts";
import type { ManifestEntry } from "./manifest.ts";

const entry = (n: number): ManifestEntry => ({
  id: new Uint8Array(createHash("sha256").update(`chunk ${n}`).digest()),
  rawLength: 1000 + (n % 5000),
});

/** A new manifest made from a base by the edits a backup sees: chunks replaced, inserted, deleted. */
const editedManifest = fc
  .record({
    base: fc.array(fc.integer({ min: 0, max: 400 }), { minLength: 0, maxLength: 200 }),
    edits: fc.array(
      fc.record({ at: fc.nat(), kind: fc.constantFrom("replace", "insert", "delete"), fresh: fc.integer({ min: 1000, max: 2000 }) }),
      { maxLength: 20 },
    ),
  })
  .map(({ base, edits }) => {
    const baseEntries = base.map(entry);
    const next = [...baseEntries];
    for (const e of edits) {
      const at = next.length ? e.at % next.length : 0;
      if (e.kind === "replace" && next.length) next[at] = entry(e.fresh);
      else if (e.kind === "insert") next.splice(at, 0, entry(e.fresh));
      else if (e.kind === "delete" && next.length) next.splice(at, 1);
    }
    return { base: baseEntries, next };
  });

describe("manifest diff", () => {
  test("expanding the encoded diff gives back exactly the manifest, whatever the edits", () => {
    fc.assert(
      fc.property(editedManifest, ({ base, next }) => {
        if (next.length === 0) return;
        const ops = diffAgainstBase(next, new BaseManifest(base));
        const page = decodeDiffPage(encodeDiffPage(7, next.length, ops));
        expect(page.firstIndex).toBe(7);
        expect(expandDiff(page.ops, base, page.count)).toEqual({ entries: next, derived: [] });
      }),
      { numRuns: 300 },
    );
  });

  test("the diff is as small as a naive reference: one run per maximal stretch of consecutive base entries", () => {
    fc.assert(
      fc.property(editedManifest, ({ base, next }) => {
        const ops = diffAgainstBase(next, new BaseManifest(base));
        // naive reference: walk entry by entry, copying when the entry is the base's next one
        const key = (e: ManifestEntry) => Buffer.from(e.id).toString("hex");
        const firstAt = new Map<string, number>();
        base.forEach((e, i) => (firstAt.has(key(e)) ? undefined : firstAt.set(key(e), i)));
        let runs = 0;
        let fresh = 0;
        let prev = -2;
        for (const e of next) {
          if (prev >= 0 && base[prev + 1] && key(base[prev + 1]!) === key(e)) {
            prev++;
            continue;
          }
          const at = firstAt.get(key(e));
          if (at !== undefined) {
            runs++;
            prev = at;
          } else {
            fresh++;
            prev = -2;
          }
        }
        expect(ops.filter((o) => o.kind === "copy")).toHaveLength(runs);
        expect(ops.flatMap((o) => (o.kind === "new" ? o.entries : []))).toHaveLength(fresh);
      }),
      { numRuns: 300 },
    );
  });

  test("an unchanged manifest of 10,000 chunks is one 17-byte page; one replaced chunk costs one entry and one extra run", () => {
    const base = Array.from({ length: 10_000 }, (_, i) => entry(i));
    expect(encodeDiffPage(0, base.length, diffAgainstBase(base, new BaseManifest(base)))).toHaveLength(8 + 9);
    const next = [...base];
    next[5000] = entry(99_999);
    const ops = diffAgainstBase(next, new BaseManifest(base));
    expect(ops.map((o) => o.kind)).toEqual(["copy", "new", "copy"]);
    expect(encodeDiffPage(0, next.length, ops)).toHaveLength(8 + 9 + 5 + 36 + 9);
  });

  test("malformed pages are BAD_FRAME: copies outside the base, wrong counts, unknown ops, truncation", () => {
    const base = [entry(1), entry(2)];
    expect(() => expandDiff([{ kind: "copy", baseIndex: 1, count: 2 }], base, 2)).toThrow("the base has 2");
    expect(() => expandDiff([{ kind: "copy", baseIndex: 0, count: 2 }], base, 3)).toThrow("announces 3");
    expect(() => expandDiff([{ kind: "copy", baseIndex: 0, count: 2 }], base, 1)).toThrow("announces 1");
    const good = encodeDiffPage(0, 2, [{ kind: "copy", baseIndex: 0, count: 2 }]);
    expect(() => decodeDiffPage(good.subarray(0, good.length - 1))).toThrow("truncated copy");
    const unknown = good.slice();
    unknown[8] = 0x7f;
    expect(() => decodeDiffPage(unknown)).toThrow("unknown op");
    const zero = good.slice();
    new DataView(zero.buffer).setUint32(4, 0);
    expect(() => decodeDiffPage(zero)).toThrow("bad entry range");
    const hugeNew = new Uint8Array(13);
    new DataView(hugeNew.buffer).setUint32(4, 5);
    hugeNew[8] = 0x02;
    new DataView(hugeNew.buffer).setUint32(9, 0xffffffff);
    expect(() => decodeDiffPage(hugeNew)).toThrow("do not fit");
  });
});

describe("manifest diff, version 4 ops (PROTOCOL.md §8.5)", () => {
  test("compact ops give back the manifest, derived entries as UNKNOWN_ID at their places, whatever the edits", () => {
    fc.assert(
      fc.property(editedManifest, fc.integer({ min: 1, max: 4 }), ({ base, next }, every) => {
        if (next.length === 0) return;
        // entries not in the base are derived every `every`-th time, else new
        const derived = (k: number) => k % every === 0;
        const ops = diffAgainstBase(next, new BaseManifest(base), derived);
        const page = decodeDiffPage(encodeDiffPage(3, next.length, ops, true), true);
        const { entries, derived: places } = expandDiff(page.ops, base, page.count);
        const inBase = new Set(base.map((e) => Buffer.from(e.id).toString("hex")));
        const expected = next.flatMap((e, k) => (!inBase.has(Buffer.from(e.id).toString("hex")) && derived(k) ? [k] : []));
        expect(places).toEqual(expected);
        expect(entries.map((e, k) => (places.includes(k) ? { id: UNKNOWN_ID, rawLength: e.rawLength } : e))).toEqual(
          next.map((e, k) => (places.includes(k) ? { id: UNKNOWN_ID, rawLength: e.rawLength } : e)),
        );
      }),
      { numRuns: 300 },
    );
  });

  test("one replaced chunk, derived, costs 8 bytes of ops more than an unchanged manifest, against 50 in version 3", () => {
    const base = Array.from({ length: 10_000 }, (_, i) => entry(i));
    const unchanged = encodeDiffPage(0, base.length, diffAgainstBase(base, new BaseManifest(base)), true);
    // COPY_RUN: op, zigzag(0), varint 10 000 (2 bytes)
    expect(unchanged).toHaveLength(8 + 4);
    const next = [...base];
    next[5000] = { ...entry(99_999), rawLength: 65_536 };
    const ops = diffAgainstBase(next, new BaseManifest(base), () => true);
    expect(ops.map((o) => o.kind)).toEqual(["copy", "derived", "copy"]);
    // COPY_RUN 0 × 5 000 (4), DERIVED 1 × 65 536 (1 + 1 + 3), COPY_RUN +1 × 4 999 (1 + 1 + 2)
    expect(encodeDiffPage(0, next.length, ops, true)).toHaveLength(8 + 4 + 5 + 4);
    expect(encodeDiffPage(0, next.length, diffAgainstBase(next, new BaseManifest(base)), false)).toHaveLength(8 + 9 + 41 + 9);
  });

  test("malformed version-4 ops are BAD_FRAME, and any of them in a version-3 session", () => {
    const page = (...ops: number[]) => Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 2, ...ops]);
    const good = page(0x03, 0x00, 0x01, 0x05, 0x01, 0x80, 0x01);
    expect(decodeDiffPage(good, true).ops).toEqual([
      { kind: "copy", baseIndex: 0, count: 1 },
      { kind: "derived", rawLengths: [128] },
    ]);
    expect(() => decodeDiffPage(good, false)).toThrow("unknown op 0x3");
    const cases: [Uint8Array, string][] = [
      [page(0x03, 0x01, 0x01, 0x05, 0x01, 0x01), "copy run from base entry -1"],
      [page(0x03, 0x00, 0x00), "0 entries"],
      [page(0x03, 0x00, 0x03), "3 entries do not fit"],
      [page(0x03, 0x00, 0x01, 0x03, 0x00, 0x02), "more than the page's 2 entries"],
      [page(0x03, 0x00), "a varint cut by the end"],
      [page(0x03, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01), "longer than 5 bytes"],
      [page(0x05, 0x02, 0x01), "2 derived entries do not fit"],
      [page(0x05, 0x02, 0x01, 0x00), "raw length 0"],
      [page(0x05, 0x02, 0x01, 0x81, 0x80, 0x20), "raw length 524289"],
      [page(0x04, 0x01, 0x01), "1 new entries do not fit"],
      [page(0x04, 0x01, ...new Array(32).fill(7), 0x80), "a varint cut by the end"],
      [page(0x06), "unknown op 0x6"],
    ];
    for (const [bytes, why] of cases) {
      expect(() => decodeDiffPage(bytes, true)).toThrow(why);
      try {
        decodeDiffPage(bytes, true);
      } catch (err) {
        expect((err as { code: string }).code).toBe("BAD_FRAME");
      }
    }
  });
});
