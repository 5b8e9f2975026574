// Derived manifest entries (version 4, PROTOCOL.md §8.5): always asked for, their ids made of the bytes that arrive, checked by the archive id at commit.
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { UNKNOWN_ID } from "../archive/manifest-diff.ts";
import type { ManifestEntry } from "../archive/manifest.ts";
import { archiveFileName } from "../archive/naming.ts";
import { HashRelayError } from "../errors.ts";
import { Store } from "./store.ts";
import { buildArchive, headerFor, seededBytes, tempDir, uploadArchive, type TestArchive } from "./test-fixtures.ts";

const T0 = Date.UTC(2026, 0, 10, 3, 0, 0);
const FIRST = archiveFileName("etc", new Date(T0));
const SECOND = archiveFileName("etc", new Date(T0 + 3600_000));

const roots: string[] = [];
const stores: Store[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
  for (const root of roots.splice(0)) await rm(root, { recursive: true, force: true });
});

/** A store holding FIRST (chunks a, b, c) for client c1, and SECOND's archive: a, a new chunk x, b, another new one y. */
async function world() {
  const root = await tempDir("hr-derived-");
  roots.push(root);
  const store = await Store.open(root, { now: () => T0 });
  stores.push(store);
  const raw = (seed: string) => seededBytes(seed, 20 * 1024);
  await uploadArchive(store, "c1", FIRST, buildArchive([raw("a"), raw("b"), raw("c")]));
  const second = buildArchive([raw("a"), raw("x"), raw("b"), raw("y")]);
  return { root, store, second };
}

/** The page a version-4 diff gives for `archive` with the entries at `derived` sent without their ids. */
function pageOf(archive: TestArchive, derived: readonly number[]): ManifestEntry[] {
  return archive.entries.map((e, i) => (derived.includes(i) ? { id: UNKNOWN_ID, rawLength: e.rawLength } : e));
}

async function codeOf(promise: Promise<unknown>): Promise<string | null> {
  return promise.then(
    () => null,
    (err: unknown) => (err instanceof HashRelayError ? err.code : String(err)),
  );
}

describe("derived entries (protocol version 4)", () => {
  test("are always asked for, even when stored, take their ids from the raw bytes or the member that arrive, and store exactly", async () => {
    const { root, store, second } = await world();
    const upload = store.beginUpload("c1", "etc");
    // entry 2 (chunk b) is stored, but a derived entry is never looked up
    expect(upload.addManifestPage(0, pageOf(second, [1, 2, 3]), [1, 2, 3])).toEqual([false, true, true, true]);
    await upload.addRawChunk(1, second.raws[1]!.slice());
    await upload.addChunk(2, second.members[2]!);
    await upload.addRawChunk(3, second.raws[3]!.slice());
    const entry = await upload.commit(headerFor(SECOND, second));
    expect(entry.archiveId).toBe(second.archiveId);
    expect(gunzipSync(await readFile(join(root, "c1", SECOND))).equals(Buffer.concat(second.raws))).toBe(true);
  });

  test("a forged chunk of the right length is taken, then the commit is HASH_MISMATCH and nothing is stored", async () => {
    const { root, store, second } = await world();
    const upload = store.beginUpload("c1", "etc");
    upload.addManifestPage(0, pageOf(second, [1, 3]), [1, 3]);
    await upload.addRawChunk(1, seededBytes("forged", 20 * 1024));
    await upload.addRawChunk(3, second.raws[3]!.slice());
    expect(await codeOf(upload.commit(headerFor(SECOND, second)))).toBe("HASH_MISMATCH");
    expect(store.latest("c1", "etc")?.file).toBe(FIRST);
    expect(existsSync(join(root, "c1", SECOND))).toBe(false);
  });

  test("bytes of another length, or a member that does not inflate, are HASH_MISMATCH at once; one never sent is BAD_FRAME at commit", async () => {
    const { store, second } = await world();
    const upload = store.beginUpload("c1", "etc");
    upload.addManifestPage(0, pageOf(second, [1, 3]), [1, 3]);
    expect(() => upload.addRawChunk(1, second.raws[1]!.slice(1))).toThrow("does not match its id");
    const broken = second.members[1]!.slice();
    broken[broken.length - 12]! ^= 0xff;
    expect(() => upload.addChunk(1, broken)).toThrow("does not match its id");
    await upload.addRawChunk(1, second.raws[1]!.slice());
    expect(await codeOf(upload.commit(headerFor(SECOND, second)))).toBe("BAD_FRAME");
  });

  test("an upload cut mid-page resumes: its derived entries are asked for again, its other staged chunks are not", async () => {
    const { root, store, second } = await world();
    const cut = store.beginUpload("c1", "etc");
    // x goes as a plain new entry (it may be looked up), y as a derived one
    expect(cut.addManifestPage(0, pageOf(second, [3]), [3])).toEqual([false, true, false, true]);
    await cut.addChunk(1, second.members[1]!);
    await cut.addRawChunk(3, second.raws[3]!.slice());
    await cut.abort();
    const again = store.beginUpload("c1", "etc");
    expect(again.addManifestPage(0, pageOf(second, [3]), [3])).toEqual([false, false, false, true]);
    await again.addRawChunk(3, second.raws[3]!.slice());
    await again.commit(headerFor(SECOND, second));
    expect(gunzipSync(await readFile(join(root, "c1", SECOND))).equals(Buffer.concat(second.raws))).toBe(true);
  });
});
