// StagingWriter: members staged with the hashes a commit's copy checks them by, and the same hashes when a restarted server scans the file.
import { afterEach, expect, test } from "bun:test";
import { rm } from "node:fs/promises";
import { memberXxh3 } from "./archive-file.ts";
import { StoreLayout } from "./layout.ts";
import { scanStagingFile } from "./staging-pool.ts";
import { StagingWriter } from "./staging-writer.ts";
import { buildArchive, seededBytes, sha256, tempDir } from "./test-fixtures.ts";

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

const hex = (bytes: Uint8Array | undefined) => Buffer.from(bytes ?? []).toString("hex");

test("XXH3-64 of a member's bytes is the standard XXH3_64bits, big-endian (a Bun that changed it would fail every copy)", () => {
  expect(hex(memberXxh3(new Uint8Array(0)))).toBe("2d06800538d394c2");
  expect(hex(memberXxh3(new TextEncoder().encode("a")))).toBe("e6c632b61e964e1f");
});

test("each staged member records its XXH3-64 beside its SHA-256, and a scan of the file after a restart finds the same", async () => {
  const root = await tempDir("hr-staging-");
  dirs.push(root);
  const archive = buildArchive([seededBytes("s-0", 30_000), seededBytes("s-1", 5_000), seededBytes("s-2", 70_000)]);
  const writer = new StagingWriter(new StoreLayout(root), "web01", "etc");
  archive.members.forEach((member, i) =>
    writer.append(i, archive.entries[i]!.id, archive.raws[i]!.length, member.length, member, () => undefined),
  );
  await writer.settled();
  const outcome = await writer.close();
  const expected = archive.members.map((m) => ({ sha256: hex(sha256(m)), xxh3: hex(memberXxh3(m)) }));
  const staged = archive.members.map((_, i) => writer.stagedAt(i)!);
  expect(staged.map((s) => ({ sha256: hex(s.sha256), xxh3: hex(s.xxh3) }))).toEqual(expected);
  expect(outcome!.members.map((m) => ({ sha256: hex(m.sha256), xxh3: hex(m.xxh3) }))).toEqual(expected);
  const scanned = await scanStagingFile(writer.path);
  expect(scanned.members.map((m) => ({ sha256: hex(m.sha256), xxh3: hex(m.xxh3) }))).toEqual(expected);
});
