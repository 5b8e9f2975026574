// Upload.addRawChunk: chunks the server rebuilt from deltas are checked on their raw bytes, then stored as members it makes.
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { noise } from "../testing/noise.ts";
import { Store } from "./store.ts";
import { buildArchive, offer, tempRoots } from "./test-fixtures.ts";
import { thrownCode } from "../testing/thrown-code.ts";

const newRoot = tempRoots("hashrelay-raw-chunk-");
const FILE = "backup-etc-00-00-12-2026-01-01.tar.gz";

describe("Upload.addRawChunk", () => {
  test("raw chunks that hash to their ids are stored as gzip members: gunzip gives the stream back", async () => {
    const root = await newRoot();
    const store = await Store.open(root);
    const raws = [noise(70_000, 1), new TextEncoder().encode("text chunk ".repeat(3000)), noise(5, 3)];
    const archive = buildArchive(raws);
    const { upload, needed, header } = offer(store, "web01", FILE, archive);
    expect(needed).toEqual([true, true, true]);
    for (const [i, raw] of raws.entries()) await upload.addRawChunk(i, raw.slice()); // handed over
    const entry = await upload.commit(header);
    const path = join(root, "web01", FILE);
    const stored = await readFile(path);
    expect(entry.size).toBe(stored.length);
    const gunzip = spawnSync("gzip", ["-dc", path]);
    expect(gunzip.status).toBe(0);
    expect(gunzip.stdout.equals(Buffer.concat(raws))).toBe(true);
    await store.close();
  });

  test("raw bytes that do not hash to the id, or have another length, are HASH_MISMATCH and nothing is staged; the right bytes are then accepted", async () => {
    const root = await newRoot();
    const store = await Store.open(root);
    const raws = [noise(40_000, 7), noise(40_000, 8)];
    const archive = buildArchive(raws);
    const { upload, header } = offer(store, "web01", FILE, archive);
    const flipped = raws[1]!.slice();
    flipped[123]! ^= 0x40;
    expect(thrownCode(() => upload.addRawChunk(1, flipped))).toBe("HASH_MISMATCH");
    expect(thrownCode(() => upload.addRawChunk(1, raws[1]!.subarray(1)))).toBe("HASH_MISMATCH");
    expect(thrownCode(() => upload.addRawChunk(1, new Uint8Array([...raws[1]!, 0])))).toBe("HASH_MISMATCH");
    expect(await readdir(join(root, ".hashrelay", "staging")).catch(() => [])).toEqual([]);
    expect(thrownCode(() => upload.addRawChunk(2, raws[1]!))).toBe("BAD_FRAME"); // no such entry
    await upload.addChunk(0, archive.members[0]!);
    await upload.addRawChunk(1, raws[1]!.slice());
    expect(thrownCode(() => upload.addRawChunk(1, raws[1]!))).toBe("BAD_FRAME"); // twice
    await upload.commit(header);
    expect((await readFile(join(root, "web01", FILE))).equals(Buffer.from(archive.bytes))).toBe(true);
    await store.close();
  });
});
