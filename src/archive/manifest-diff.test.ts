import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { createHash } from "node:crypto";
import { BaseManifest, decodeDiffPage, diffAgainstBase, encodeDiffPage, expandDiff } from "./manifest-diff.ts";
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
        expect(expandDiff(page.ops, base, page.count)).toEqual(next);
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
