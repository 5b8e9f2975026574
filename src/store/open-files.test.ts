// Store.readChunk through OpenFiles (the delta path of a session): the chunks' raw bytes, from archive files kept open.
import { describe, expect, test } from "bun:test";
import { unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { HashRelayError } from "../errors.ts";
import { noise } from "../testing/noise.ts";
import { OpenFiles, Store } from "./store.ts";
import { buildArchive, tempRoots, uploadArchive } from "./test-fixtures.ts";

/** The HashRelayError `read` throws (or null when it returns). */
function errorOf(read: () => unknown): HashRelayError | null {
  try {
    read();
    return null;
  } catch (err) {
    expect(err).toBeInstanceOf(HashRelayError);
    return err as HashRelayError;
  }
}

const newRoot = tempRoots("hashrelay-open-files-");

describe("OpenFiles", () => {
  test("readChunk gives the raw bytes of chunks of two archives, read again from the files kept open; an unknown id is null", async () => {
    const root = await newRoot();
    const store = await Store.open(root);
    const a = buildArchive([noise(30_000, 1), noise(50_000, 3)]);
    const b = buildArchive([noise(40_000, 5), noise(20_000, 7)]);
    await uploadArchive(store, "web01", "backup-etc-00-00-12-2026-01-01.tar.gz", a);
    await uploadArchive(store, "web01", "backup-home-00-00-12-2026-01-01.tar.gz", b);
    const files = new OpenFiles();
    try {
      for (const archive of [a, b, a]) {
        for (const [i, entry] of archive.entries.entries()) {
          const hex = Buffer.from(entry.id).toString("hex");
          expect(store.readChunk("web01", hex, files)).toEqual(archive.raws[i]!);
        }
      }
      expect(store.readChunk("web01", "ab".repeat(32), files)).toBeNull();
    } finally {
      files.close();
      await store.close();
    }
  });

  test("a file read once stays open: it is still read after its name is gone, until close()", async () => {
    const root = await newRoot();
    const path = join(root, "archive");
    await writeFile(path, noise(1000, 9));
    const files = new OpenFiles();
    try {
      expect(files.read(path, 0, 10, "archive")).toEqual(noise(1000, 9).subarray(0, 10));
      await unlink(path);
      expect(files.read(path, 500, 10, "archive")).toEqual(noise(1000, 9).subarray(500, 510));
      files.close();
      expect(() => files.read(path, 0, 10, "archive")).toThrow(/ENOENT/);
    } finally {
      files.close();
    }
  });

  test("a file shorter than the range asked is STORAGE naming it; more files than it keeps open are still read right", async () => {
    const root = await newRoot();
    const files = new OpenFiles();
    try {
      const paths: string[] = [];
      for (let k = 0; k < 12; k++) {
        const path = join(root, `f${k}`);
        await writeFile(path, noise(1000, 2 * k + 1));
        paths.push(path);
      }
      for (let round = 0; round < 2; round++) {
        for (const [k, path] of paths.entries())
          expect(files.read(path, 100, 50, `f${k}`)).toEqual(noise(1000, 2 * k + 1).subarray(100, 150));
      }
      let error: unknown = null;
      try {
        files.read(paths[0]!, 990, 20, "web01/f0");
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(HashRelayError);
      expect((error as HashRelayError).code).toBe("STORAGE");
      expect((error as HashRelayError).message).toContain("web01/f0: file ends before byte 1010");
    } finally {
      files.close();
    }
  });

  test("readRaw gives each member's raw bytes through the same reused buffers", async () => {
    const root = await newRoot();
    const path = join(root, "archive");
    const archive = buildArchive([noise(30_000, 1), new Uint8Array(50_000).fill(7), noise(20_000, 3)]);
    await writeFile(path, archive.bytes);
    const files = new OpenFiles();
    try {
      let at = 0;
      for (const [i, member] of archive.members.entries()) {
        expect(files.readRaw(path, at, member.length, archive.raws[i]!.length, "web01/archive")).toEqual(archive.raws[i]!);
        at += member.length;
      }
    } finally {
      files.close();
    }
  });

  test("readRaw of a damaged member, or one of another raw length than the index says, is STORAGE naming it", async () => {
    const root = await newRoot();
    const path = join(root, "archive");
    const archive = buildArchive([new Uint8Array(40_000).fill(3)]);
    const member = archive.members[0]!;
    const bad = member.slice();
    bad[bad.length - 6]! ^= 1; // the CRC32
    await writeFile(path, Buffer.concat([member, bad]));
    const files = new OpenFiles();
    try {
      expect(files.readRaw(path, 0, member.length, 40_000, "web01/archive")).toEqual(archive.raws[0]!);
      const crc = errorOf(() => files.readRaw(path, member.length, member.length, 40_000, "web01/archive"));
      expect(crc?.code).toBe("STORAGE");
      expect(crc?.message).toContain(`web01/archive: member at ${member.length} is damaged`);
      const length = errorOf(() => files.readRaw(path, 0, member.length, 39_999, "web01/archive"));
      expect(length?.code).toBe("STORAGE");
      expect(length?.message).toContain("is damaged (inflates to other than its 39999 indexed bytes)");
    } finally {
      files.close();
    }
  });
});
