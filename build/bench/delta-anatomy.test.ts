import { describe, expect, test } from "bun:test";
import { encodeTarHeader, type TarEntry } from "../../src/archive/tar.ts";
import { noise } from "../../src/testing/noise.ts";
import { anatomyOf } from "./delta-anatomy.ts";

const AGENT_BLOCKS = { min: 256, avg: 1024, max: 4096 };

/** 48 KiB of text-like lines: compressible, and every line different. */
function text(seed: number): Uint8Array {
  const words = Array.from(noise(4000, seed), (b, i) => `w${(b * 7 + i) % 97}`);
  const lines: string[] = [];
  for (let i = 0; lines.join("\n").length < 48 * 1024; i++) lines.push(`line ${i}: ${words.slice(i % 3000, (i % 3000) + 8).join(" ")}`);
  return new TextEncoder().encode(lines.join("\n").slice(0, 48 * 1024));
}

/** One tar entry of `content`: header, content, padding to 512. */
function entry(content: Uint8Array, mtime: number): Uint8Array {
  const meta: TarEntry = {
    path: "etc/app.conf",
    type: "file",
    mode: 0o644,
    uid: 0,
    gid: 0,
    uname: "root",
    gname: "root",
    size: content.length,
    mtime,
  };
  const header = encodeTarHeader(meta);
  const out = new Uint8Array(header.length + Math.ceil(content.length / 512) * 512);
  out.set(header);
  out.set(content, header.length);
  return out;
}

describe("delta anatomy", () => {
  test("an edited line costs its block; without its edges only the line is literal", () => {
    const before = text(1);
    const after = new Uint8Array(before.length + 10);
    after.set(before.subarray(0, 20_000));
    after.set(new TextEncoder().encode("EDITED!!! "), 20_000);
    after.set(before.subarray(20_000), 20_010);
    const a = anatomyOf([before], [after], AGENT_BLOCKS);
    expect(a.chunks).toBe(1);
    expect(a.literal).toBeGreaterThanOrEqual(256);
    expect(a.literal - a.edges).toBeLessThanOrEqual(10);
    expect(a.bodyWithoutEdges).toBeLessThan(a.body / 2);
    expect(a.bodyWithSubBlocks).toBeLessThan(a.body / 2);
  });

  test("two edits in one run: the edges keep the bytes between them literal, sub-blocks copy them", () => {
    const before = text(3);
    const after = before.slice();
    after.set(new TextEncoder().encode("EDIT"), 20_000);
    after.set(new TextEncoder().encode("EDIT"), 20_300);
    const a = anatomyOf([before], [after], AGENT_BLOCKS);
    expect(a.literal - a.edges).toBeGreaterThanOrEqual(300);
    expect(a.subBlocks).toBeGreaterThan(0);
    expect(a.bodyWithSubBlocks).toBeLessThan(a.bodyWithoutEdges);
  });

  test("a header whose mtime moved costs tens of bytes once its old fields are put back", () => {
    const content = text(2);
    const a = anatomyOf([entry(content, 1_700_000_000)], [entry(content, 1_700_000_999)], AGENT_BLOCKS);
    expect(a.headerLiteral).toBe(512);
    expect(a.bodyWithOldHeaders).toBeLessThan(80);
    expect(a.bodyWithOldHeaders).toBeLessThan(a.body);
  });
});
