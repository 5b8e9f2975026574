import { describe, expect, test } from "bun:test";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import fc from "fast-check";
import { ArchiveIdHasher, archiveIdOf, chunkIdHex, decodeManifestEntries, encodeManifestEntries, type ManifestEntry } from "./manifest.ts";

function entry(seed: number, rawLength: number): ManifestEntry {
  return { id: new Uint8Array(createHash("sha256").update(String(seed)).digest()), rawLength };
}

const entries = [entry(1, 65536), entry(2, 17), entry(3, 0)];

describe("manifest encoding", () => {
  test("each entry is its 32-byte id then its raw length as u32 big-endian", () => {
    const bytes = encodeManifestEntries(entries, 0, 3);
    expect(bytes.length).toBe(108);
    expect(Buffer.from(bytes.subarray(0, 32)).equals(Buffer.from(entries[0]!.id))).toBe(true);
    expect([...bytes.subarray(32, 36)]).toEqual([0x00, 0x01, 0x00, 0x00]);
    expect([...bytes.subarray(68, 72)]).toEqual([0, 0, 0, 17]);
  });

  test("pages cut with from/to decode back to the same entries", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.nat()), { maxLength: 40 }),
        fc.nat(),
        fc.nat(),
        (raw, x, y) => {
          const list = raw.map(([id, rawLength]) => ({ id, rawLength }));
          const from = list.length === 0 ? 0 : x % (list.length + 1);
          const to = from + (list.length === from ? 0 : y % (list.length - from + 1));
          const decoded = decodeManifestEntries(encodeManifestEntries(list, from, to));
          expect(decoded.map((e) => [chunkIdHex(e.id), e.rawLength])).toEqual(
            list.slice(from, to).map((e) => [chunkIdHex(e.id), e.rawLength]),
          );
        },
      ),
    );
  });

  test("a length that is not a multiple of 36 is BAD_FRAME", () => {
    for (const length of [1, 35, 37, 71]) {
      expect(() => decodeManifestEntries(new Uint8Array(length))).toThrow(expect.objectContaining({ code: "BAD_FRAME" }));
    }
    expect(decodeManifestEntries(new Uint8Array(0))).toEqual([]);
  });

  test("malformed entries are refused", () => {
    expect(() => encodeManifestEntries([{ id: new Uint8Array(31), rawLength: 1 }], 0, 1)).toThrow(
      expect.objectContaining({ code: "BAD_FRAME" }),
    );
    expect(() => encodeManifestEntries([entry(1, 2 ** 32)], 0, 1)).toThrow(expect.objectContaining({ code: "BAD_FRAME" }));
    expect(() => encodeManifestEntries(entries, 2, 4)).toThrow(/outside/);
  });
});

describe("archive id", () => {
  test('is SHA-256 of "HRM1", the 36-byte entries, then the u32 BE count', () => {
    const canonical = Buffer.concat([Buffer.from("HRM1"), encodeManifestEntries(entries, 0, 3), Buffer.from([0, 0, 0, 3])]);
    expect(archiveIdOf(entries)).toBe(createHash("sha256").update(canonical).digest("hex"));
    expect(chunkIdHex(entries[0]!.id)).toBe(createHash("sha256").update("1").digest("hex"));
  });

  test("streaming entry by entry or page by page gives the same id as the whole list", () => {
    const many = Array.from({ length: 50 }, (_, i) => entry(i, i * 1000));
    const byEntry = new ArchiveIdHasher();
    for (const e of many) byEntry.add(e);
    const byPage = new ArchiveIdHasher();
    byPage.addEncoded(encodeManifestEntries(many, 0, 20));
    byPage.addEncoded(encodeManifestEntries(many, 20, 50));
    expect(byPage.entries).toBe(50);
    expect(byEntry.digest()).toBe(archiveIdOf(many));
    expect(byPage.digest()).toBe(archiveIdOf(many));
  });

  test("changes with order, length, id and count", () => {
    const base = archiveIdOf(entries);
    expect(archiveIdOf([entries[1]!, entries[0]!, entries[2]!])).not.toBe(base);
    expect(archiveIdOf([entries[0]!, { ...entries[1]!, rawLength: 18 }, entries[2]!])).not.toBe(base);
    expect(archiveIdOf(entries.slice(0, 2))).not.toBe(base);
    expect(archiveIdOf([])).not.toBe(archiveIdOf([entry(0, 0)]));
    expect(archiveIdOf([])).toBe(createHash("sha256").update(Buffer.from("HRM1\0\0\0\0", "latin1")).digest("hex"));
  });

  test("a ragged page is BAD_FRAME; digest twice is refused", () => {
    const hasher = new ArchiveIdHasher();
    expect(() => hasher.addEncoded(new Uint8Array(40))).toThrow(expect.objectContaining({ code: "BAD_FRAME" }));
    hasher.digest();
    expect(() => hasher.digest()).toThrow(/already/);
  });
});
