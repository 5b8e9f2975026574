// Reused runs cloned on real XFS (reflink=1) and btrfs in loop files: blocks shared with the trashed predecessor, fillers bounded, copies on ext4.
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { inflateStoredMember, leadingFillers } from "../archive/filler.ts";
import { encodeGzipMember } from "../archive/gzip-member.ts";
import { archiveIdOf } from "../archive/manifest.ts";
import { archiveFileName, type ArchiveFormat } from "../archive/naming.ts";
import { encodeZstdMember } from "../archive/zstd-member.ts";
import { deflateRaw, zstdFrame } from "../io/compress.ts";
import { decodeFetchedChunk } from "../protocol/binary-frames.ts";
import { CHUNK_MAX } from "../protocol/constants.ts";
import { makeLoopFs, sharedBytes, skipBanner, usedBytes, type LoopFs } from "../testing/loop-fs.ts";
import { piecesDigestOf } from "../testing/pieces-digest-of.ts";
import { receiveMembers } from "../client/archive-fetch.ts";
import type { ReceiptBody } from "../protocol/signed-document.ts";
import type { SecureSession } from "../session/secure-session.ts";
import { readSharingState } from "./block-sharing.ts";
import { MIN_CLONED_RUN } from "./cloned-run.ts";
import { StoreLayout } from "./layout.ts";
import { Store, type StoreLog } from "./store.ts";
import { sha256, sendPages } from "./test-fixtures.ts";

const MiB = 1024 * 1024;
const HOUR = 3600_000;
const T0 = Date.UTC(2026, 0, 10, 3, 0, 0);

// One loop file system of each kind for this file (about 0.3 s each to make); skipped, with a banner, where none can be made.
const xfs = makeLoopFs("xfs");
const btrfs = makeLoopFs("btrfs");
const ext4 = makeLoopFs("ext4", 256);
afterAll(() => {
  for (const fs of [xfs, btrfs, ext4]) fs.remove();
});
for (const fs of [xfs, btrfs, ext4]) if (!fs.mount) skipBanner(fs, "the block-sharing tests");

/**
 * The chunks of one source over its generations: random (incompressible) chunks of 40-90 KiB, each
 * generation editing some and appending one, its members made once per chunk.
 */
class Source {
  raws: Uint8Array[];
  members: Uint8Array[];
  generation = 0;

  constructor(
    readonly format: ArchiveFormat,
    count: number,
  ) {
    this.raws = Array.from({ length: count }, () => chunk());
    this.members = this.raws.map((raw) => this.encode(raw));
  }

  /** The next generation: chunk `at` rewritten (a little longer), one chunk appended. */
  edit(at: number): void {
    this.raws = [...this.raws];
    this.members = [...this.members];
    this.set(at, chunk(this.raws[at]!.length + 100));
    this.set(this.raws.length, chunk());
    this.generation++;
  }

  /** Chunk `at` is `raw` (in this generation). */
  set(at: number, raw: Uint8Array): void {
    this.raws[at] = raw;
    this.members[at] = this.encode(raw);
  }

  get file(): string {
    return archiveFileName("www", new Date(T0 + this.generation * HOUR), this.format);
  }

  /** SHA-256 of the tar stream the archive must decompress to. */
  get streamSha(): string {
    const hash = createHash("sha256");
    for (const raw of this.raws) hash.update(raw);
    return hash.digest("hex");
  }

  private encode(raw: Uint8Array): Uint8Array {
    return this.format === "tar.gz" ? encodeGzipMember(raw, deflateRaw) : encodeZstdMember(raw, zstdFrame);
  }
}

function chunk(length = 40_000 + Math.floor(Math.random() * 50_000)): Uint8Array {
  return new Uint8Array(randomBytes(length));
}

/** Stores the source's current generation as a client would (pages, the chunks asked for, commit); returns the bytes the server wrote. */
async function backup(store: Store, source: Source, events: { event: string; fields: Record<string, unknown> }[]): Promise<number> {
  const entries = source.raws.map((raw) => ({ id: sha256(raw), rawLength: raw.length }));
  const upload = store.beginUpload("web01", "www", source.format);
  const needed = sendPages(upload, entries);
  for (const [i, need] of needed.entries()) if (need) await upload.addChunk(i, source.members[i]!);
  const rawSize = source.raws.reduce((n, r) => n + r.length, 0);
  await upload.commit({ name: "www", file: source.file, archiveId: archiveIdOf(entries), chunks: entries.length, rawSize });
  const assembled = events.filter((e) => e.event === "commit.assembled").at(-1);
  return assembled!.fields.written as number;
}

/** Bytes and count of the fillers between the members of `path`, as the index records the members. */
function fillers(store: Store, file: string, path: string): { count: number; bytes: number } {
  const bytes = readFileSync(path);
  let end = 0;
  const found = { count: 0, bytes: 0 };
  for (const [, offset, length] of store.latest("web01", "www")!.members) {
    if (offset > end) {
      expect(leadingFillers(bytes.subarray(end, offset))).toBe(offset - end);
      found.count++;
      found.bytes += offset - end;
    }
    end = offset + length;
  }
  expect(end).toBe(bytes.length);
  expect(store.latest("web01", "www")!.file).toBe(file);
  return found;
}

/** True when `gzip -dc` (or `zstd -dc`, as its name says) decompresses `path` without an error to the stream of SHA-256 `streamSha`. */
function decompressesTo(path: string, streamSha: string): boolean {
  const tool = path.endsWith(".tar.zst") ? "zstd -q" : "gzip";
  const r = spawnSync("bash", ["-c", `set -o pipefail; ${tool} -dc "$1" | sha256sum`, "-", path], { encoding: "utf8" });
  return r.status === 0 && r.stdout.split(" ")[0] === streamSha;
}

async function openStore(root: string): Promise<{ store: Store; events: { event: string; fields: Record<string, unknown> }[] }> {
  const events: { event: string; fields: Record<string, unknown> }[] = [];
  const log: StoreLog = (_level, event, fields) => events.push({ event, fields });
  let now = T0;
  const store = await Store.open(root, { log, now: () => (now += HOUR), retention: { keep: 1, trashForMs: 48 * HOUR } });
  return { store, events };
}

/** A session that hands out the archive's members as the server sends them in a fetch (each with its fillers): a client's view of it. */
async function fetchedFrames(store: Store, source: Source): Promise<SecureSession> {
  const sent = await store.archiveToSend("web01", "www", source.file);
  const frames: Uint8Array[] = [];
  for (const m of sent.members()) {
    const payload = new Uint8Array(4 + m.lead + m.length);
    new DataView(payload.buffer).setUint32(0, frames.length, false);
    payload.set(await sent.read(m.offset - m.lead, m.lead + m.length), 4);
    frames.push(payload);
  }
  await sent.close();
  return { expectBinary: async () => frames.shift()! } as unknown as SecureSession;
}

/**
 * Every member as a restore receives it (a fetch frame: the member with the fillers before it) is within
 * the bound on a member, decodes as a fetched chunk and inflates to its chunk.
 */
async function fetchedFramesSound(store: Store, source: Source): Promise<void> {
  const sent = await store.archiveToSend("web01", "www", source.file);
  let index = 0;
  for (const m of sent.members()) {
    const payload = new Uint8Array(4 + m.lead + m.length);
    new DataView(payload.buffer).setUint32(0, index, false);
    payload.set(await sent.read(m.offset - m.lead, m.lead + m.length), 4);
    const chunk = decodeFetchedChunk(payload);
    expect(sha256(inflateStoredMember(chunk.member, CHUNK_MAX))).toEqual(sha256(source.raws[index++]!));
  }
  await sent.close();
  expect(index).toBe(source.raws.length);
}

/** Bytes this process has read through read(2) and its kin so far, page cache hits included (/proc/self/io rchar). */
function bytesRead(): number {
  return Number(/^rchar: (\d+)$/m.exec(readFileSync("/proc/self/io", "utf8"))![1]);
}

/**
 * One edit of a 24 MiB archive on `fs`: what the server wrote, how much the file system grew, how much
 * the new file shares, and how many bytes the edit's backup read (staging and index included).
 */
async function oneEdit(fs: LoopFs, format: ArchiveFormat, prepare?: (source: Source) => void) {
  const root = join(fs.mount!, `store-${format}-${randomBytes(4).toString("hex")}`);
  await mkdir(root);
  const { store, events } = await openStore(root);
  const source = new Source(format, 380);
  prepare?.(source);
  const firstWritten = await backup(store, source, events);
  const first = join(root, "web01", source.file);
  const size = statSync(first).size;
  const before = usedBytes(root);
  source.edit(190);
  const readBefore = bytesRead();
  const written = await backup(store, source, events);
  const read = bytesRead() - readBefore;
  const second = join(root, "web01", source.file);
  const growth = usedBytes(root) - before;
  const trashed = join(root, ".trash", "web01", archiveFileName("www", new Date(T0), format));
  const result = { store, root, source, size, firstWritten, written, read, growth, shared: sharedBytes(second), first, second, trashed };
  return result;
}

describe.skipIf(!xfs.mount)("on XFS with reflink=1", () => {
  test("a one-chunk edit: the new archive shares all but its changed blocks with the trashed one; both read back whole", async () => {
    const r = await oneEdit(xfs, "tar.gz");
    expect(r.size).toBeGreaterThan(16 * MiB);
    // The first backup has nothing to clone: written whole, no filler.
    expect(r.firstWritten).toBe(r.size);
    // The edit: the new chunk, one filler, and the partial blocks at both ends of two cloned runs.
    expect(r.written).toBeLessThan(256 * 1024);
    expect(r.growth).toBeLessThan(r.size * 0.01 + MiB);
    expect(r.shared).toBeGreaterThan(statSync(r.second).size - 512 * 1024);
    expect(sharedBytes(r.trashed)).toBeGreaterThan(r.size - 512 * 1024);
    expect(decompressesTo(r.second, r.source.streamSha)).toBe(true);
    expect(spawnSync("gzip", ["-t", r.trashed]).status).toBe(0);
    const gaps = fillers(r.store, r.source.file, r.second);
    expect(gaps.count).toBe(1);
    expect(gaps.bytes).toBeLessThanOrEqual(4096 + 25);
    // The scrub reads every member and checks the filler; a restore gets members with their fillers: the file again.
    expect((await r.store.verifyArchive("web01", r.source.file)).ok).toBe(true);
    const sent = await r.store.archiveToSend("web01", "www", r.source.file);
    const parts: Uint8Array[] = [];
    for (const m of sent.members()) parts.push(await sent.read(m.offset - m.lead, m.lead + m.length));
    await sent.close();
    expect(Buffer.concat(parts).equals(readFileSync(r.second))).toBe(true);
    expect((await readSharingState(new StoreLayout(r.root)))?.cloning).toBe(true);
    await r.store.close();
  });

  test("the commit reads what it writes, not the cloned runs: its receipt's pieces digest is the file's all the same", async () => {
    const r = await oneEdit(xfs, "tar.gz");
    // The partial blocks at the ends of two cloned runs and the members across them, the new chunks from
    // staging, index pages: a few hundred KiB. Reading the cloned runs (for a whole-file SHA-256) is the size.
    expect(r.read).toBeLessThan(MiB);
    expect(r.size).toBeGreaterThan(16 * MiB);
    const entry = r.store.latest("web01", "www")!;
    expect(entry.fileSha256).toBeUndefined();
    expect(entry.piecesSha256).toBe(piecesDigestOf(readFileSync(r.second)));
    expect(fillers(r.store, r.source.file, r.second).count).toBe(1);
    await r.store.close();
    await rm(r.root, { recursive: true }); // the loop file system is small: the tests after need its space
  });

  test("a byte flipped in a cloned member after the commit: the scrub names the member, a restore or verify the member and the digest", async () => {
    const r = await oneEdit(xfs, "tar.gz");
    const entry = r.store.latest("web01", "www")!;
    const [, offset, length] = entry.members[100]!;
    const bytes = await readFile(r.second);
    bytes[offset + Math.floor(length / 2)]! ^= 1;
    await writeFile(r.second, bytes);
    const scrubbed = await r.store.verifyArchive("web01", r.source.file);
    expect(scrubbed.damaged.map((d) => d.index)).toEqual([100]);
    // the client's side of a fetch: each member against its chunk id, then the file against the receipt's digest
    const receipt: ReceiptBody = { v: 1, kind: "receipt", ...entry, piecesSha256: entry.piecesSha256! };
    const entries = r.source.raws.map((raw) => ({ id: sha256(raw), rawLength: raw.length }));
    const fetched = await receiveMembers(await fetchedFrames(r.store, r.source), entries, receipt, { failFast: false });
    expect(fetched.checked).toBe(entries.length - 1);
    expect(fetched.problems).toHaveLength(2);
    expect(fetched.problems[0]).toContain("member 100");
    expect(fetched.problems[1]).toContain(`the receipt says pieces-sha256 ${entry.piecesSha256}`);
    await r.store.close();
    await rm(r.root, { recursive: true });
  });

  test("retention: purging the trashed predecessor frees only its unshared blocks; the clone stays whole", async () => {
    const r = await oneEdit(xfs, "tar.gz");
    const before = usedBytes(r.root);
    const purged = await r.store.purgeTrash(0);
    expect(purged.map((p) => p.item)).toContain(archiveFileName("www", new Date(T0), "tar.gz"));
    expect(existsSync(r.trashed)).toBe(false);
    // The predecessor's blocks are its successor's too: deleting it frees the replaced chunk and little else.
    expect(before - usedBytes(r.root)).toBeLessThan(MiB);
    expect(sharedBytes(r.second)).toBe(0);
    expect(decompressesTo(r.second, r.source.streamSha)).toBe(true);
    expect((await r.store.verifyArchive("web01", r.source.file)).ok).toBe(true);
    await r.store.close();
  });

  test("zstd archives clone the same way, with skippable frames as fillers", async () => {
    const r = await oneEdit(xfs, "tar.zst");
    expect(r.written).toBeLessThan(256 * 1024);
    expect(r.growth).toBeLessThan(r.size * 0.01 + MiB);
    expect(decompressesTo(r.second, r.source.streamSha)).toBe(true);
    expect(fillers(r.store, r.source.file, r.second).count).toBe(1);
    expect((await r.store.verifyArchive("web01", r.source.file)).ok).toBe(true);
    // A restore receives the member after the filler with it: the frame starts with the filler's magic.
    await fetchedFramesSound(r.store, r.source);
    await r.store.close();
  });

  test("a run whose first member would not fit a fetch frame behind its fillers starts one member later", async () => {
    // Chunk 191, right after the edit, is the largest a chunk gets and does not compress: its member
    // with ~4 KiB of fillers before it would exceed the bound on a fetched member.
    const r = await oneEdit(xfs, "tar.gz", (source) => source.set(191, chunk(CHUNK_MAX)));
    expect(r.written).toBeLessThan(512 * 1024);
    expect(r.growth).toBeLessThan(r.size * 0.01 + MiB);
    await fetchedFramesSound(r.store, r.source);
    expect(decompressesTo(r.second, r.source.streamSha)).toBe(true);
    await r.store.close();
  });

  test("50 generations, each editing one chunk elsewhere: every one reads back whole, fillers stay under one per 4 MiB", async () => {
    const root = join(xfs.mount!, "fifty");
    await mkdir(root);
    const { store, events } = await openStore(root);
    const source = new Source("tar.gz", 250);
    await backup(store, source, events);
    let most = 0;
    for (let g = 1; g <= 50; g++) {
      source.edit((g * 97) % source.raws.length);
      const written = await backup(store, source, events);
      const path = join(root, "web01", source.file);
      // Every fifth generation is read back whole (each costs about a second); the fillers of every one are checked.
      if (g % 5 === 0) expect(decompressesTo(path, source.streamSha)).toBe(true);
      const size = statSync(path).size;
      const gaps = fillers(store, source.file, path);
      // The bound (PROTOCOL.md §8.3): a filler only before a cloned run of at least MIN_CLONED_RUN bytes.
      expect(gaps.count).toBeLessThanOrEqual(Math.floor(size / MIN_CLONED_RUN));
      expect(gaps.bytes).toBeLessThanOrEqual(gaps.count * (4096 + 25));
      // What a generation costs: the changes, and at most the short runs beside them copied instead of cloned
      // (two around the edited chunk, one before the appended chunk).
      expect(written).toBeLessThan(3 * MIN_CLONED_RUN + 512 * 1024);
      most = Math.max(most, gaps.count);
    }
    expect(most).toBeGreaterThan(1);
    expect((await store.verifyArchive("web01", source.file)).ok).toBe(true);
    await store.close();
  }, 120_000);

  test("a reused member that changed is found where its bytes are written (a run's end) and by the scrub where cloned; the next backup sends both again", async () => {
    const root = join(xfs.mount!, "rot");
    await mkdir(root);
    const { store, events } = await openStore(root);
    const source = new Source("tar.gz", 200);
    await backup(store, source, events);
    const path = join(root, "web01", source.file);
    const members = store.latest("web01", "www")!.members;
    const bytes = await readFile(path);
    // The last member ends the last run: its partial block is written, so it is checked.
    const [, lastOffset] = members.at(-1)!;
    bytes[lastOffset + 7]! ^= 1;
    // Member 100 lies inside a cloned run: shared, not read again at commit.
    const [, middleOffset, middleLength] = members[100]!;
    bytes[middleOffset + Math.floor(middleLength / 2)]! ^= 1;
    await writeFile(path, bytes);
    const damaged = await store.verifyArchive("web01", source.file, "scrub");
    expect(damaged.damaged.map((d) => d.index)).toEqual([100, members.length - 1]);
    const rotten = source.file;
    // recorded: both chunks count as not held, the client is asked for them, and the backup succeeds
    source.edit(10);
    const entries = source.raws.map((raw) => ({ id: sha256(raw), rawLength: raw.length }));
    const probe = store.beginUpload("web01", "www", source.format);
    const needed = sendPages(probe, entries).flatMap((need, i) => (need ? [i] : []));
    await probe.abort();
    expect(needed).toEqual([10, 100, members.length - 1, members.length]);
    await backup(store, source, events);
    expect(decompressesTo(join(root, "web01", source.file), source.streamSha)).toBe(true);
    expect((await store.verifyArchive("web01", source.file)).ok).toBe(true);
    expect(store.list("web01").map((e) => e.file)).toEqual([source.file]);
    expect(store.damage.get("web01", rotten)?.by).toBe("scrub");
    await store.close();
  });
});

describe.skipIf(!btrfs.mount)("on btrfs", () => {
  test("a one-chunk edit shares all but the changed blocks with the trashed archive", async () => {
    const r = await oneEdit(btrfs, "tar.gz");
    expect(r.written).toBeLessThan(256 * 1024);
    expect(r.growth).toBeLessThan(r.size * 0.01 + MiB);
    expect(r.shared).toBeGreaterThan(statSync(r.second).size - 512 * 1024);
    expect(decompressesTo(r.second, r.source.streamSha)).toBe(true);
    expect((await r.store.verifyArchive("web01", r.source.file)).ok).toBe(true);
    await r.store.close();
  });
});

describe.skipIf(!ext4.mount)("on ext4 (no reflinks)", () => {
  test("archives are copied whole as before: no filler, the state says why, logged once", async () => {
    const r = await oneEdit(ext4, "tar.gz");
    expect(r.written).toBe(statSync(r.second).size);
    expect(r.shared).toBe(0);
    expect(fillers(r.store, r.source.file, r.second).count).toBe(0);
    expect(decompressesTo(r.second, r.source.streamSha)).toBe(true);
    const state = await readSharingState(new StoreLayout(r.root));
    expect(state).toMatchObject({ cloning: false, reason: "EOPNOTSUPP" });
    await r.store.close();
  });
});
