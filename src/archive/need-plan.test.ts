import { expect, test } from "bun:test";
import fc from "fast-check";
import { createHash } from "node:crypto";
import { chunkIdHex, type ManifestEntry } from "./manifest.ts";
import { planPage, type ChunkNeed } from "./need-plan.ts";

const entry = (n: number): ManifestEntry => ({ id: new Uint8Array(createHash("sha256").update(`c${n}`).digest()), rawLength: 100 });

test("paged planning equals a naive whole-manifest reference: each id the client lacks travels exactly once, at its first index", () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 60 }), { maxLength: 300 }),
      fc.array(fc.integer({ min: 0, max: 60 }), { maxLength: 40 }),
      fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 20 }),
      (ids, haveIds, pageSizes) => {
        const manifest = ids.map(entry);
        const have = new Set(haveIds.map((n) => chunkIdHex(entry(n).id)));
        // naive reference: one pass over the whole manifest
        const firstAt = new Map<string, number>();
        const expected: ChunkNeed<string>[] = manifest.map((e, i) => {
          const hex = chunkIdHex(e.id);
          if (have.has(hex)) return { kind: "have", place: `at ${hex}` };
          if (firstAt.has(hex)) return { kind: "repeat", of: firstAt.get(hex)! };
          firstAt.set(hex, i);
          return { kind: "needed" };
        });
        // pages of random sizes; `have` is never asked about an id already asked for
        const pending = new Map<string, number>();
        const actual: ChunkNeed<string>[] = [];
        const lookUp = (e: ManifestEntry, hex: string) => {
          expect(hex).toBe(chunkIdHex(e.id));
          expect(pending.has(hex)).toBe(false);
          return have.has(hex) ? `at ${hex}` : null;
        };
        let at = 0;
        let p = 0;
        while (at < manifest.length) {
          const size = pageSizes[p++ % pageSizes.length]!;
          actual.push(...planPage(at, manifest.slice(at, at + size), lookUp, pending));
          at += size;
        }
        expect(actual).toEqual(expected);
        const needed = actual.filter((x) => x.kind === "needed").length;
        expect(needed).toBe(new Set(manifest.map((e) => chunkIdHex(e.id)).filter((h) => !have.has(h))).size);
      },
    ),
    { numRuns: 300 },
  );
});
