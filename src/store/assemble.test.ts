// assembleArchive: members copied in order from runs across files, each checked against its recorded XXH3-64 (or SHA-256) before it is written.
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { HashRelayError } from "../errors.ts";
import { pieceOf, PiecesHasher } from "../archive/pieces-digest.ts";
import { noise } from "../testing/noise.ts";
import { memberXxh3 } from "./archive-file.ts";
import { assembleArchive, planRuns, READ_RUN, type MemberSource } from "./assemble.ts";
import { tempRoots } from "./test-fixtures.ts";

const newRoot = tempRoots("hashrelay-assemble-");
const MEMBER = 200 * 1024;

function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(bytes).digest());
}

/**
 * Two files of 30 stand-in members each (noise: assembly only compares bytes with recorded hashes; a
 * first byte of 0x1f keeps them off the zstd path). Sources: a[0..19] end to end, then a[20+i], b[i]
 * alternating (a new run each), then b[10..29] end to end: 60 members, 12 MiB, more runs than buffers.
 */
async function twoFiles(root: string) {
  const files = { a: join(root, "a.part"), b: join(root, "b.part") };
  const members = { a: [] as Uint8Array[], b: [] as Uint8Array[] };
  for (const key of ["a", "b"] as const) {
    for (let i = 0; i < 30; i++) {
      const m = noise(MEMBER, (key === "a" ? 1000 : 2000) + i);
      m[0] = 0x1f;
      members[key].push(m);
    }
    await writeFile(files[key], Buffer.concat(members[key]));
  }
  const source = (key: "a" | "b", i: number, index: number): MemberSource => ({
    index,
    id: new Uint8Array(32).fill(index),
    rawLength: 1000 + index,
    path: files[key],
    label: `${key}.part`,
    offset: i * MEMBER,
    length: MEMBER,
    sha256: sha256(members[key][i]!),
  });
  const order: ["a" | "b", number][] = [];
  for (let i = 0; i < 20; i++) order.push(["a", i]);
  for (let i = 0; i < 10; i++) order.push(["a", 20 + i], ["b", i]);
  for (let i = 10; i < 30; i++) order.push(["b", i]);
  const sources = order.map(([key, i], index) => source(key, i, index));
  const expected = Buffer.concat(order.map(([key, i]) => members[key][i]!));
  return { files, sources, expected };
}

describe("assembleArchive", () => {
  test("members from two files, in many runs, come out in order; the file hash and member table are those of the bytes written", async () => {
    const root = await newRoot();
    const { sources, expected } = await twoFiles(root);
    expect(planRuns(sources).length).toBeGreaterThan(20);
    const tmp = join(root, "new.tar.gz");
    const built = await assembleArchive({ client: "web01", name: "etc", tmp, sources, format: "tar.gz" });
    const written = await readFile(tmp);
    expect(written.length).toBe(60 * MEMBER);
    expect(written.equals(expected)).toBe(true);
    expect(built.size).toBe(expected.length);
    const pieces = new PiecesHasher();
    for (let i = 0; i < 60; i++) pieces.add(pieceOf(new Uint8Array(0)), pieceOf(expected.subarray(i * MEMBER, (i + 1) * MEMBER)));
    expect(built.piecesSha256).toBe(pieces.digest());
    expect(built.members.count).toBe(60);
    for (let i = 0; i < 60; i++) {
      expect(built.members.offset(i)).toBe(i * MEMBER);
      expect(built.members.length(i)).toBe(MEMBER);
      expect(built.members.rawLength(i)).toBe(1000 + i);
      expect(built.members.id(i)).toEqual(new Uint8Array(32).fill(i));
      expect(built.members.sha256(i)).toEqual(sha256(expected.subarray(i * MEMBER, (i + 1) * MEMBER)));
      // each row written records its XXH3-64 too, for the copies of later backups
      expect(built.members.xxh3(i)).toEqual(memberXxh3(expected.subarray(i * MEMBER, (i + 1) * MEMBER)));
    }
  });

  test("a member with a recorded XXH3-64 is checked by it, not by its SHA-256; a flipped bit is HASH_MISMATCH all the same", async () => {
    const root = await newRoot();
    const { files, sources, expected } = await twoFiles(root);
    const bytes = { [files.a]: await readFile(files.a), [files.b]: await readFile(files.b) };
    // the recorded SHA-256s made wrong: only a check by XXH3 assembles these
    const checked = sources.map((s) => ({
      ...s,
      xxh3: memberXxh3(bytes[s.path]!.subarray(s.offset, s.offset + s.length)),
      sha256: new Uint8Array(32),
    }));
    const tmp = join(root, "new.tar.gz");
    await assembleArchive({ client: "web01", name: "etc", tmp, sources: checked, format: "tar.gz" });
    expect((await readFile(tmp)).equals(expected)).toBe(true);
    bytes[files.b]![25 * MEMBER + 777]! ^= 0x01;
    await writeFile(files.b, bytes[files.b]!);
    let error: unknown;
    await assembleArchive({ client: "web01", name: "etc", tmp: join(root, "again.tar.gz"), sources: checked, format: "tar.gz" }).catch(
      (err) => (error = err),
    );
    expect((error as HashRelayError).code).toBe("HASH_MISMATCH");
    expect((error as HashRelayError).message).toContain(`chunk 55 of etc, reused from b.part at byte ${25 * MEMBER}`);
  });

  test("a member changed since it was verified, late in the file, is HASH_MISMATCH naming it, and no temp file is left", async () => {
    const root = await newRoot();
    const { files, sources } = await twoFiles(root);
    // b[25]: source 55 (40 + 15), in the last stretch, after several runs were written
    const bytes = await readFile(files.b);
    bytes[25 * MEMBER + 777]! ^= 0x01;
    await writeFile(files.b, bytes);
    const tmp = join(root, "new.tar.gz");
    let error: unknown;
    await assembleArchive({ client: "web01", name: "etc", tmp, sources, format: "tar.gz" }).catch((err) => (error = err));
    expect(error).toBeInstanceOf(HashRelayError);
    expect((error as HashRelayError).code).toBe("HASH_MISMATCH");
    expect((error as HashRelayError).message).toContain(
      `chunk 55 of etc, reused from b.part at byte ${25 * MEMBER}, does not match its id`,
    );
    expect((await readdir(root)).sort()).toEqual(["a.part", "b.part"]);
  });

  test("a source file shorter than its members is STORAGE, and no temp file is left", async () => {
    const root = await newRoot();
    const { files, sources } = await twoFiles(root);
    await writeFile(files.a, (await readFile(files.a)).subarray(0, 25 * MEMBER));
    const tmp = join(root, "new.tar.gz");
    let error: unknown;
    await assembleArchive({ client: "web01", name: "etc", tmp, sources, format: "tar.gz" }).catch((err) => (error = err));
    expect((error as HashRelayError).code).toBe("STORAGE");
    expect((await readdir(root)).sort()).toEqual(["a.part", "b.part"]);
  });
});

describe("planRuns", () => {
  const at = (path: string, offset: number, length: number, index: number): MemberSource => ({
    index,
    id: new Uint8Array(32),
    rawLength: 1,
    path,
    label: path,
    offset,
    length,
    sha256: new Uint8Array(32),
  });

  test("members end to end in one file join one run; a gap, another file or READ_RUN bytes start the next", () => {
    const big = READ_RUN / 4;
    const sources = [
      at("x", 0, 10, 0),
      at("x", 10, 20, 1), // end to end: same run
      at("x", 40, 5, 2), // gap
      at("y", 45, 5, 3), // other file
      at("y", 50, big, 4),
      at("y", 50 + big, big, 5),
      at("y", 50 + 2 * big, big, 6),
      at("y", 50 + 3 * big, big, 7), // would pass READ_RUN with the 5 bytes at 45
    ];
    expect(planRuns(sources).map((r) => [r.first, r.end, r.path, r.offset, r.length])).toEqual([
      [0, 2, "x", 0, 30],
      [2, 3, "x", 40, 5],
      [3, 7, "y", 45, 5 + 3 * big],
      [7, 8, "y", 50 + 3 * big, big],
    ]);
  });
});
