import { describe, expect, test } from "bun:test";
import { PAGE_MAX_ENTRIES, PAGE_SPAN_BYTES, PageBuilder, type KeptChunk } from "./page-builder.ts";

const CHUNK = 64 * 1024;
const none: KeptChunk = { kind: "none", from: 0 };
const entry = (i: number) => ({ id: new Uint8Array(32).fill(i & 0xff), rawLength: CHUNK });

/** Adds chunks until the builder hands a page back; returns how many chunks that page has (or null after `max`). */
function chunksUntilFull(builder: PageBuilder, read: boolean, max: number): number | null {
  for (let i = 1; i <= max; i++) if (builder.add(entry(i), none, 0, read)) return i;
  return null;
}

describe("page builder", () => {
  test("chunks read from the source close a page at PAGE_SPAN_BYTES of the tar stream, kept or not", () => {
    expect(chunksUntilFull(new PageBuilder(), true, 10_000)).toBe(PAGE_SPAN_BYTES / CHUNK);
  });

  test("chunks taken unread from the last archive do not: an unchanged stretch is one page up to the entry cap", () => {
    // A one-line edit of a 3.3 GiB tree asked one NEED per 16 MiB of unchanged stream when they counted.
    expect(PAGE_MAX_ENTRIES * CHUNK).toBeGreaterThan(4 * PAGE_SPAN_BYTES);
    expect(chunksUntilFull(new PageBuilder(), false, PAGE_MAX_ENTRIES - 1)).toBeNull();
    const builder = new PageBuilder();
    expect(chunksUntilFull(builder, false, PAGE_MAX_ENTRIES)).toBe(PAGE_MAX_ENTRIES);
    // after an unchanged stretch, a page still closes once what it read reaches the span
    for (let i = 0; i < 100; i++) builder.add(entry(i), none, 0, false);
    expect(chunksUntilFull(builder, true, 10_000)).toBe(PAGE_SPAN_BYTES / CHUNK);
  });
});
