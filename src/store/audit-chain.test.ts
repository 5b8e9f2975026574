import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { createHash } from "node:crypto";
import { ChainWalker, GENESIS, checkChain, formatAuditLine, type AuditEvent, type ChainAnchor, type ChainReport } from "./audit-chain.ts";

const T0 = Date.UTC(2026, 2, 1, 12, 0, 0);
const slug = fc.stringMatching(/^[a-z][a-z0-9-]{0,11}$/);
const hex = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString("hex"));
const event: fc.Arbitrary<AuditEvent> = fc.oneof(
  fc.record({
    event: fc.constant("accept" as const),
    client: slug,
    name: slug,
    file: slug,
    archiveId: hex,
    fileSha256: hex,
    size: fc.nat(),
  }),
  fc.record({ event: fc.constant("supersede" as const), client: slug, name: slug, file: slug, replacedBy: slug }),
  fc.record({ event: fc.constant("trash" as const), client: slug, name: slug, file: slug, item: slug, replacedBy: slug }),
  fc.record({ event: fc.constant("purge" as const), client: slug, item: slug, trashedAt: fc.constant(new Date(T0).toISOString()) }),
  fc.record({
    event: fc.constantFrom("hold" as const, "release" as const),
    client: slug,
    name: slug,
    file: slug,
    suspect: slug,
    reason: fc.string({ maxLength: 40 }),
  }),
);

/** A log built by hand from the rule (sha256 of the previous line's bytes), not by the checker's code. */
function buildLog(events: AuditEvent[]): { lines: string[]; head: ChainAnchor } {
  const lines: string[] = [];
  let prev = GENESIS;
  events.forEach((e, i) => {
    const line = formatAuditLine(i + 1, T0 + i * 1000, e, prev);
    lines.push(line);
    prev = createHash("sha256").update(line).digest("hex");
  });
  return { lines, head: { seq: lines.length, hash: prev, source: "the head file" } };
}
const bytesOf = (lines: string[]) => Buffer.from(lines.map((l) => l + "\n").join(""));
const failedAt = (report: ChainReport) => (report.ok ? null : report.line);

describe("audit chain", () => {
  test("an intact log of random events passes, pushed whole or a few bytes at a time", () => {
    fc.assert(
      fc.property(fc.array(event, { minLength: 0, maxLength: 12 }), fc.integer({ min: 1, max: 97 }), (events, step) => {
        const { lines, head } = buildLog(events);
        const whole = checkChain(bytesOf(lines), [head]);
        expect(whole).toEqual({ ok: true, lines: events.length, head: { seq: head.seq, hash: head.hash }, recovered: [] });
        const walker = new ChainWalker([head]);
        const bytes = bytesOf(lines);
        for (let at = 0; at < bytes.length; at += step) expect(walker.push(bytes.subarray(at, at + step))).toBeNull();
        expect(walker.end().ok).toBe(true);
      }),
      { numRuns: 150 },
    );
  });

  test("changing any byte of any line is found at that line or the next (the last line through the head)", () => {
    fc.assert(
      fc.property(fc.array(event, { minLength: 1, maxLength: 8 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (events, where, delta) => {
        const { lines, head } = buildLog(events);
        const bytes = bytesOf(lines);
        const at = where % bytes.length;
        const edited = Buffer.from(bytes);
        edited[at] = (edited[at]! + delta) % 256;
        const lineOfByte = bytes.subarray(0, at).filter((b) => b === 10).length + 1;
        const line = failedAt(checkChain(edited, [head]));
        expect(line).not.toBeNull();
        expect(line!).toBeGreaterThanOrEqual(lineOfByte);
        expect(line!).toBeLessThanOrEqual(lineOfByte + 1);
      }),
      { numRuns: 300 },
    );
  });

  test("deleting any line is found; a middle one without the head, the last one through the head", () => {
    fc.assert(
      fc.property(fc.array(event, { minLength: 2, maxLength: 10 }), fc.nat(), (events, pick) => {
        const { lines, head } = buildLog(events);
        const gone = pick % lines.length;
        const kept = lines.filter((_, i) => i !== gone);
        const withHead = checkChain(bytesOf(kept), [head]);
        expect(withHead.ok).toBe(false);
        if (gone < lines.length - 1) expect(failedAt(checkChain(bytesOf(kept)))).toBe(gone + 1);
        else expect(withHead).toMatchObject({ line: lines.length, problem: expect.stringContaining("cut off") });
      }),
      { numRuns: 200 },
    );
  });

  test("swapping two lines is found at the first of them", () => {
    fc.assert(
      fc.property(fc.array(event, { minLength: 2, maxLength: 10 }), fc.nat(), fc.nat(), (events, a, b) => {
        const { lines } = buildLog(events);
        const [i, j] = [a % lines.length, b % lines.length].sort((x, y) => x - y) as [number, number];
        fc.pre(i !== j);
        const swapped = [...lines];
        [swapped[i], swapped[j]] = [swapped[j]!, swapped[i]!];
        expect(failedAt(checkChain(bytesOf(swapped)))).toBe(i + 1);
      }),
      { numRuns: 200 },
    );
  });

  test("the messages name the line and say what happened", () => {
    const events: AuditEvent[] = [1, 2, 3, 4].map((i) => ({
      event: "purge",
      client: "web01",
      item: `item-${i}`,
      trashedAt: new Date(T0).toISOString(),
    }));
    const { lines, head } = buildLog(events);
    const edited = [...lines];
    edited[1] = edited[1]!.replace("item-2", "item-9");
    expect(checkChain(bytesOf(edited), [head])).toMatchObject({
      ok: false,
      line: 3,
      problem: expect.stringContaining("line 2 was edited, or a line was deleted before line 3"),
    });
    expect(checkChain(bytesOf([lines[0]!, lines[2]!, lines[3]!]))).toMatchObject({
      line: 2,
      problem: expect.stringContaining("line 2 has seq 3, expected 2"),
    });
    expect(checkChain(bytesOf(["not json", ...lines]))).toMatchObject({ line: 1, problem: expect.stringContaining("not an audit record") });
    expect(checkChain(Buffer.from(bytesOf(lines).toString().slice(0, -10)), [])).toMatchObject({
      line: 4,
      problem: expect.stringContaining("no newline"),
    });
    // The last line replaced by a well-formed one: only an anchor can tell.
    const forged = buildLog([
      ...events.slice(0, 3),
      { event: "purge", client: "web01", item: "forged", trashedAt: new Date(T0).toISOString() },
    ]);
    expect(checkChain(bytesOf(forged.lines)).ok).toBe(true);
    expect(checkChain(bytesOf(forged.lines), [{ ...head, source: "--expect" }])).toMatchObject({
      line: 4,
      problem: expect.stringContaining("--expect"),
    });
    // An anchor at an earlier line still holds as the log grows.
    expect(
      checkChain(bytesOf(lines), [{ seq: 2, hash: createHash("sha256").update(lines[1]!).digest("hex"), source: "--expect" }]).ok,
    ).toBe(true);
  });

  test("a line longer than the limit is refused, not buffered", () => {
    const walker = new ChainWalker();
    const problem = walker.push(Buffer.alloc(70 * 1024, 0x41));
    expect(problem).toMatchObject({ line: 1, problem: expect.stringContaining("longer than") });
  });

  test("an empty log is intact at line 0 unless an anchor names a later line", () => {
    expect(checkChain(new Uint8Array(0))).toEqual({ ok: true, lines: 0, head: { seq: 0, hash: GENESIS }, recovered: [] });
    expect(checkChain(new Uint8Array(0), [{ seq: 3, hash: "a".repeat(64), source: "the head file" }])).toMatchObject({
      ok: false,
      line: 1,
    });
  });
});
