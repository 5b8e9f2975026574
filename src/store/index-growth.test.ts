// What the server writes for a backup that changes one chunk of N: bounded by the change, not by N (XFS loop file system).
import { afterAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { encodeGzipMember } from "../archive/gzip-member.ts";
import { archiveIdOf } from "../archive/manifest.ts";
import { archiveFileName } from "../archive/naming.ts";
import { deflateRaw } from "../io/compress.ts";
import { makeLoopFs, skipBanner } from "../testing/loop-fs.ts";
import { Store } from "./store.ts";
import { sha256, sendPages } from "./test-fixtures.ts";

const HOUR = 3600_000;
const T0 = Date.UTC(2026, 0, 10, 3, 0, 0);

const xfs = makeLoopFs("xfs", 1024);
afterAll(() => xfs.remove());
if (!xfs.mount) skipBanner(xfs, "the index-growth tests");

/** Bytes this process has sent to the storage layer so far (/proc/self/io write_bytes). */
function writeBytes(): number {
  return Number(/write_bytes: (\d+)/.exec(readFileSync("/proc/self/io", "utf8"))![1]);
}

/** Size of `path`, 0 when absent. */
function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/** One backup of `raws` (members encoded once, in `members`), generation `g`; the chunks asked for are sent. */
async function backup(store: Store, raws: Uint8Array[], members: Uint8Array[], g: number): Promise<void> {
  const entries = raws.map((raw) => ({ id: sha256(raw), rawLength: raw.length }));
  const upload = store.beginUpload("web01", "www", "tar.gz");
  for (const [i, need] of sendPages(upload, entries).entries()) if (need) await upload.addChunk(i, members[i]!);
  const file = archiveFileName("www", new Date(T0 + g * HOUR), "tar.gz");
  const rawSize = raws.reduce((n, r) => n + r.length, 0);
  await upload.commit({ name: "www", file, archiveId: archiveIdOf(entries), chunks: entries.length, rawSize });
}

/**
 * A store of `count` chunks of 2 KB (incompressible), backed up, then again with one chunk changed
 * and retention keeping one (the predecessor goes to the trash): what the second backup wrote, in all
 * and to the index (its file and WAL, grown).
 */
async function oneEdit(count: number): Promise<{ written: number; index: number }> {
  const root = join(xfs.mount!, `growth-${count}-${randomBytes(4).toString("hex")}`);
  await mkdir(root);
  let now = T0;
  const store = await Store.open(root, { log: () => {}, now: () => (now += HOUR), retention: { keep: 1, trashForMs: 48 * HOUR } });
  const raws = Array.from({ length: count }, () => new Uint8Array(randomBytes(2000)));
  const members = raws.map((raw) => encodeGzipMember(raw, deflateRaw));
  await backup(store, raws, members, 0);
  const db = join(root, ".hashrelay", "index.sqlite");
  const indexBefore = sizeOf(db) + sizeOf(`${db}-wal`);
  const before = writeBytes();
  raws[count >> 1] = new Uint8Array(randomBytes(2000));
  members[count >> 1] = encodeGzipMember(raws[count >> 1]!, deflateRaw);
  await backup(store, raws, members, 1);
  const written = writeBytes() - before;
  const index = sizeOf(db) + sizeOf(`${db}-wal`) - indexBefore;
  expect(store.latest("web01", "www")!.members.length).toBe(count);
  await store.close();
  return { written, index };
}

describe.skipIf(!xfs.mount)("a one-chunk edit on XFS", () => {
  test("the server's writes and the index's growth do not grow with the archive's member count", async () => {
    const small = await oneEdit(5_000);
    const large = await oneEdit(30_000);
    // Before spans (index-spans.ts) each member cost ~930 bytes here: its row, its chunk-index entry, both through the WAL.
    expect((large.written - small.written) / 25_000).toBeLessThan(20);
    expect(large.written).toBeLessThan(1024 * 1024);
    expect(large.index).toBeLessThan(256 * 1024);
  }, 120_000);
});
