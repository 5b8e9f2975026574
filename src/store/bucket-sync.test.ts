// What a cache on an S3 storage must hold of the bucket's live archives: the newest retention.keep of each source and a held one.
import { describe, expect, test } from "bun:test";
import { archiveFileName, parseArchiveFileName } from "../archive/naming.ts";
import { cachedWanted, type LiveArchive } from "./bucket-sync.ts";
import type { Hold } from "./holds.ts";

const T0 = Date.UTC(2026, 0, 10, 3, 0, 0);
const HOUR = 3600_000;
const file = (name: string, hours: number) => archiveFileName(name, new Date(T0 + hours * HOUR));

/** The bucket's live objects, as liveArchives lists them. */
function live(files: string[]): Map<string, LiveArchive> {
  return new Map(files.map((f) => [f, { size: 1, name: parseArchiveFileName(f)!.name, at: parseArchiveFileName(f)!.at.getTime() }]));
}

function holdOf(name: string, kept: string): Hold {
  const figures = { shared: 0, previousRatio: 0.2, newRatio: 0.9 };
  return { client: "web01", name, kept, suspect: "", since: "", reason: "", figures, consistent: 0 };
}

describe("cachedWanted", () => {
  const [d0, d1, d2, d3] = [file("docs", 0), file("docs", 1), file("docs", 2), file("docs", 3)];
  const docs = [d0, d1, d2, d3];
  const [w0, w5] = [file("www", 0), file("www", 5)];
  const www = [w0, w5];

  test("the newest retention.keep of each source, whatever the listing order", () => {
    expect(cachedWanted(live([...docs, ...www].reverse()), [], 1).sort()).toEqual([d3, w5].sort());
    expect(cachedWanted(live([...www, ...docs]), [], 2).sort()).toEqual([d2, d3, ...www].sort());
    expect(cachedWanted(live(docs), [], 9).sort()).toEqual([...docs].sort());
  });

  test("and the archive a hold keeps, while the bucket holds it live", () => {
    expect(cachedWanted(live(docs), [holdOf("docs", d0)], 1).sort()).toEqual([d0, d3].sort());
    expect(cachedWanted(live([d1, d2, d3]), [holdOf("docs", d0)], 1)).toEqual([d3]);
  });
});
