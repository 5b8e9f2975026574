// Version 3's sub-block hashes and version 4's derived entries end to end in memory, with older peers on either side.
import { afterEach, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { batchIndexes } from "../../archive/delta-batch.ts";
import { decodeDiffPage } from "../../archive/manifest-diff-page.ts";
import { decodeNeed } from "../../protocol/binary-frames.ts";
import { FrameType } from "../../protocol/constants.ts";
import { backupWorld, WORLD_CLIENT, type WorldVersions } from "../../testing/backup-world.ts";
import type { TracedFrame } from "../../testing/session-trace.ts";

const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

/** Config-like text, different in every line (so that an edit's neighbours are not found elsewhere). */
function text(seed: number, lines: number): string {
  return Array.from(
    { length: lines },
    (_, i) => `${seed}.key_${i} = ${(i * 7919 + seed) % 100_003} # note ${"xyzw".repeat(1 + (i % 7))}\n`,
  ).join("");
}

/** Two lines replaced near the middle of `body`, and one inserted near its end. */
function edited(body: string): string {
  const lines = body.split("\n");
  const mid = Math.floor(lines.length / 2);
  lines.splice(mid, 2, "changed line one", "changed line two, a little longer");
  lines.splice(lines.length - 40, 0, "an inserted line");
  return lines.join("\n");
}

/** The types of the binary frames the client sent and read, in order. */
const binaryTypes = (frames: readonly TracedFrame[]) => frames.flatMap((f) => (f.kind === "binary" ? [f.type] : []));

const DELTAS: ReadonlySet<number> = new Set([FrameType.SEALED_CHUNK_DELTA, FrameType.SEALED_CONTEXT_DELTA, FrameType.SEALED_DELTA_BATCH]);

/** Backs up three text files, edits two of them, backs up again: the second backup's result and frames, and the session's version. */
async function editOnce(versions: WorldVersions) {
  const w = await backupWorld(roots, versions);
  const files: Record<string, string> = { "a.conf": text(1, 2500), "b.conf": text(2, 2500), "c.conf": text(3, 2500) };
  for (const [name, body] of Object.entries(files)) writeFileSync(join(w.source.path, name), body);
  expect((await w.backup()).result).toMatchObject({ status: "sent" });
  for (const name of ["a.conf", "c.conf"]) {
    files[name] = edited(files[name]!);
    writeFileSync(join(w.source.path, name), files[name]!);
  }
  const second = await w.backup();
  expect(second.result).toMatchObject({ status: "sent" });
  const out = join(w.root, "restored");
  mkdirSync(out);
  const tar = spawnSync("tar", ["-xzf", join(w.root, "storage", WORLD_CLIENT, second.result.archive!), "-C", out]);
  expect(tar.status).toBe(0);
  for (const [name, body] of Object.entries(files)) expect(readFileSync(join(out, "data", name), "utf8")).toBe(body);
  const version = w.session.version;
  await w.close();
  expect(w.logs.filter((line) => line.startsWith("error"))).toEqual([]);
  return { ...second, version };
}

describe("sub-block hashes (protocol version 3)", () => {
  test("a page's deltas ask one HASH_REQUEST after its NEED and before its first delta, and send far fewer bytes than version 2", async () => {
    const v3 = await editOnce({ client: 3 });
    expect(v3.version).toBe(3);
    const types = binaryTypes(v3.frames);
    const need = types.indexOf(FrameType.SEALED_NEED);
    const request = types.indexOf(FrameType.SEALED_HASH_REQUEST);
    const firstDelta = types.findIndex((t) => DELTAS.has(t));
    expect(types.filter((t) => t === FrameType.SEALED_HASH_REQUEST)).toHaveLength(1);
    expect(types.filter((t) => t === FrameType.SEALED_SUB_HASHES)).toHaveLength(1);
    expect(need).toBeLessThan(request);
    expect(request).toBeLessThan(firstDelta);
    const needed = decodeNeed(
      (v3.frames.find((f) => f.kind === "binary" && f.type === FrameType.SEALED_NEED) as { payload: Uint8Array }).payload,
    );
    // the page's deltas, consecutive, travel in one DELTA_BATCH (version 3, PROTOCOL.md §8.9)
    expect(types.filter((t) => DELTAS.has(t))).toEqual([FrameType.SEALED_DELTA_BATCH]);
    const batch = v3.frames.find((f) => f.kind === "binary" && f.type === FrameType.SEALED_DELTA_BATCH) as { payload: Uint8Array };
    expect(batchIndexes(batch.payload).indexes).toEqual(needed.needed);

    const v2 = await editOnce({ client: 2 });
    expect(v2.version).toBe(2);
    expect(binaryTypes(v2.frames)).not.toContain(FrameType.SEALED_HASH_REQUEST);
    // the edges of each edit are copied: about what the edits themselves cost, not 1 KiB blocks around them
    expect(v3.result.bytesSent).toBeLessThan(v2.result.bytesSent * 0.6);
  }, 60_000);

  test("a version-3 client falls back to version 2 on a version-2 server: no hash request, the backup is stored", async () => {
    const old = await editOnce({ server: [2] });
    expect(old.version).toBe(2);
    expect(binaryTypes(old.frames)).not.toContain(FrameType.SEALED_HASH_REQUEST);
    expect(binaryTypes(old.frames).some((t) => DELTAS.has(t))).toBe(true);
  }, 60_000);
});

/** The ops of every MANIFEST_DIFF page the client sent (`compact`: decoded as a version-4 session would). */
const diffOps = (frames: readonly TracedFrame[], compact: boolean) =>
  frames.flatMap((f) => (f.kind === "binary" && f.type === FrameType.SEALED_MANIFEST_DIFF ? decodeDiffPage(f.payload, compact).ops : []));

describe("derived entries (protocol version 4)", () => {
  test("the edited chunks go as derived entries, without ids: the pages take far fewer bytes than version 3's", async () => {
    const v4 = await editOnce({ client: 4 });
    expect(v4.version).toBe(4);
    const ops = diffOps(v4.frames, true);
    const derived = ops.flatMap((o) => (o.kind === "derived" ? o.rawLengths : []));
    const needed = v4.frames.flatMap((f) => (f.kind === "binary" && f.type === FrameType.SEALED_NEED ? decodeNeed(f.payload).needed : []));
    expect(derived.length).toBeGreaterThan(0);
    expect(derived.length).toBe(needed.length);
    expect(ops.some((o) => o.kind === "new")).toBe(false);
    const v3 = await editOnce({ client: 3 });
    const pageBytes = (frames: readonly TracedFrame[]) =>
      frames.reduce((sum, f) => sum + (f.kind === "binary" && f.type === FrameType.SEALED_MANIFEST_DIFF ? f.payload.length : 0), 0);
    // each edited chunk: a 36-byte entry and its NEW op's 5 bytes in version 3, about 5 bytes in all in version 4
    expect(pageBytes(v4.frames)).toBeLessThan(pageBytes(v3.frames) - 30 * derived.length);
  }, 60_000);

  test("version 5: the page's HASH_REQUEST goes right behind the page, before its NEED is read; about version 4's bytes", async () => {
    const v5 = await editOnce({ client: 5 });
    expect(v5.version).toBe(5);
    const types = binaryTypes(v5.frames);
    expect(types.filter((t) => t === FrameType.SEALED_HASH_REQUEST)).toHaveLength(1);
    expect(types.indexOf(FrameType.SEALED_HASH_REQUEST)).toBeLessThan(types.indexOf(FrameType.SEALED_NEED));
    const v4 = await editOnce({ client: 4 });
    expect(binaryTypes(v4.frames).indexOf(FrameType.SEALED_HASH_REQUEST)).toBeGreaterThan(
      binaryTypes(v4.frames).indexOf(FrameType.SEALED_NEED),
    );
    // the same edits, asked about as version 4 asks (the two worlds' tar headers differ in their mtimes only)
    const asked = (frames: readonly TracedFrame[]) =>
      frames.filter((f) => f.kind === "binary" && f.type === FrameType.SEALED_SUB_HASHES).length;
    expect([asked(v5.frames), asked(v4.frames)]).toEqual([1, 1]);
    // as many bytes, but for the tar headers' mtimes of two worlds made a moment apart
    expect(Math.abs(v5.result.bytesSent - v4.result.bytesSent)).toBeLessThan(v4.result.bytesSent * 0.1);
    // against a version-4 server the client falls back to 4 and asks after the NEED again
    const old = await editOnce({ server: [4, 3, 2] });
    expect(old.version).toBe(4);
    expect(binaryTypes(old.frames).indexOf(FrameType.SEALED_HASH_REQUEST)).toBeGreaterThan(
      binaryTypes(old.frames).indexOf(FrameType.SEALED_NEED),
    );
  }, 60_000);

  test("a version-5 client on a version-3 server falls back to version 3, not 2: hash requests, no derived entries", async () => {
    const old = await editOnce({ server: [3, 2] });
    expect(old.version).toBe(3);
    expect(binaryTypes(old.frames)).toContain(FrameType.SEALED_HASH_REQUEST);
    expect(diffOps(old.frames, false).some((o) => o.kind === "derived")).toBe(false);
  }, 60_000);
});
