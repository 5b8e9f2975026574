// Store.listTrashed: what `ls` shows of the trash — ids kept from the index, purge times, old sidecars rescanned.
import { afterEach, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { archiveFileName } from "../archive/naming.ts";
import { Store } from "./store.ts";
import { buildArchive, seededBytes, tempDir, uploadArchive } from "./test-fixtures.ts";

const HOUR = 3600_000;
const T0 = Date.UTC(2026, 0, 10, 3, 0, 0);
const roots: string[] = [];
afterEach(async () => {
  for (const root of roots.splice(0)) await rm(root, { recursive: true, force: true });
});

test("a superseded archive is listed with its ids and purge time, also when its sidecar predates the ids", async () => {
  const root = await tempDir("hr-trash-list-");
  roots.push(root);
  let now = T0;
  const store = await Store.open(root, { now: () => now, retention: { keep: 1, trashForMs: 48 * HOUR } });
  try {
    const file1 = archiveFileName("www", new Date(T0));
    const { entry: first } = await uploadArchive(store, "web01", file1, buildArchive([seededBytes("a", 40_000), seededBytes("b", 30_000)]));
    now += HOUR;
    await uploadArchive(store, "web01", archiveFileName("www", new Date(now)), buildArchive([seededBytes("c", 40_000)]));
    now += HOUR;
    await uploadArchive(store, "db01", archiveFileName("db", new Date(now)), buildArchive([seededBytes("d", 10_000)]));

    const expected = {
      client: "web01",
      item: file1,
      name: "www",
      file: file1,
      archiveId: first.archiveId,
      piecesSha256: first.piecesSha256,
      size: first.size,
      storedAt: first.storedAt,
      trashedAt: new Date(T0 + HOUR).toISOString(),
      purgeAt: new Date(T0 + 49 * HOUR).toISOString(),
    };
    expect(await store.listTrashed("web01")).toEqual([expected]);
    expect(await store.listTrashed("db01")).toEqual([]);

    // A sidecar written before the ids were kept: the item is scanned; storedAt falls back to the file's mtime.
    await writeFile(
      join(root, ".trash", "web01", `${file1}.trashed`),
      JSON.stringify({ trashedAt: new Date(T0 + HOUR).toISOString(), from: `web01/${file1}` }),
    );
    // a scan cannot tell which digest the receipt signed: it lists both, the pieces digest as committed
    const [rescanned] = await store.listTrashed("web01");
    const wholeFile = createHash("sha256")
      .update(await readFile(join(root, ".trash", "web01", file1)))
      .digest("hex");
    expect({ ...rescanned, storedAt: expected.storedAt }).toEqual({ ...expected, fileSha256: wholeFile });
  } finally {
    await store.close();
  }
});
