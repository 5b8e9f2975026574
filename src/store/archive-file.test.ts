import { afterEach, describe, expect, test } from "bun:test";
import { piecesDigestOf } from "../testing/pieces-digest-of.ts";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { HashRelayError } from "../errors.ts";
import { CHUNK_MAX } from "../protocol/constants.ts";
import { scanArchive } from "./archive-file.ts";
import { buildArchive, seededBytes, sha256, tempDir } from "./test-fixtures.ts";

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

describe("scanArchive", () => {
  test("an archive larger than one read block is walked member by member, offsets and ids exact", async () => {
    const dir = await tempDir("hr-scan-");
    dirs.push(dir);
    // incompressible chunks of CHUNK_MAX: ~6.5 MB, so members straddle the 4 MiB read blocks
    const raws = Array.from({ length: 25 }, (_, i) => seededBytes(`big-${i}`, i === 24 ? 1234 : CHUNK_MAX));
    const archive = buildArchive(raws);
    const path = join(dir, "a.tar.gz");
    await writeFile(path, archive.bytes);
    const scanned = await scanArchive(path);
    expect(scanned.size).toBe(archive.bytes.length);
    expect(scanned.archiveId).toBe(archive.archiveId);
    expect(scanned.fileSha256).toBe(Buffer.from(sha256(archive.bytes)).toString("hex"));
    expect(scanned.piecesSha256).toBe(piecesDigestOf(archive.bytes));
    let offset = 0;
    expect(scanned.members.count).toBe(25);
    for (const [i, [id, at, length, raw]] of scanned.members.records().entries()) {
      expect(scanned.members.sha256(i)).toEqual(sha256(archive.members[i]!));
      expect([id, at, length, raw]).toEqual([
        Buffer.from(archive.entries[i]!.id).toString("hex"),
        offset,
        archive.members[i]!.length,
        raws[i]!.length,
      ]);
      offset += length;
    }
  });

  test("truncated, padded or foreign files are STORAGE naming the file and the offset", async () => {
    const dir = await tempDir("hr-scan-");
    dirs.push(dir);
    const archive = buildArchive([seededBytes("a", 5000), seededBytes("b", 5000)]);
    const second = archive.members[0]!.length;
    const cases: [string, Uint8Array, string][] = [
      ["truncated", archive.bytes.subarray(0, archive.bytes.length - 3), `byte ${second}`],
      ["padded", new Uint8Array([...archive.bytes, 0, 0, 0]), `byte ${archive.bytes.length}`],
      ["plain-gzip", new Uint8Array(Bun.gzipSync(new TextEncoder().encode("hello"))), "byte 0"],
      ["empty", new Uint8Array(0), "empty"],
    ];
    for (const [name, bytes, where] of cases) {
      const path = join(dir, name);
      await writeFile(path, bytes);
      const err = await scanArchive(path).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(HashRelayError);
      expect((err as HashRelayError).code).toBe("STORAGE");
      expect((err as HashRelayError).message).toContain(path);
      expect((err as HashRelayError).message).toContain(where);
    }
  });
});
