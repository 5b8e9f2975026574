// The signed record beside each archive: written before the archive appears, follows it into the trash, survives a lost index, is purged with it.
import { describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { archiveFileName } from "../archive/naming.ts";
import { signDocument, type SignedDoc } from "../protocol/signed-document.ts";
import { identityFor } from "../protocol/test-fixtures.ts";
import { readSignedRecord } from "./signed-record.ts";
import { Store, type ArchiveSigning, type ReceiptFacts } from "./store.ts";
import { buildArchive, offer, seededBytes, sendNeeded, tempRoots, type TestArchive } from "./test-fixtures.ts";

const HOUR = 3600_000;
const T0 = Date.UTC(2026, 0, 10, 3, 0, 0);
const CLIENT = identityFor("signed-record client");
const SERVER = identityFor("signed-record server");
const newRoot = tempRoots("hr-signed-");
const fileAt = (ms: number) => archiveFileName("etc", new Date(ms));
const archiveOf = (seed: string) => buildArchive(Array.from({ length: 3 }, (_, i) => seededBytes(`${seed}-${i}`, 8192)));

function manifestOf(file: string, archive: TestArchive): SignedDoc {
  const createdAt = new Date(T0).toISOString();
  const [chunks, rawSize] = [archive.entries.length, archive.rawSize];
  return signDocument(
    { v: 1, kind: "manifest", client: "web01", name: "etc", file, archiveId: archive.archiveId, chunks, rawSize, createdAt },
    CLIENT,
  );
}

/** The signing a server passes at commit; `seen` gets the facts it signed, and whether the archive was in place by then. */
function signingFor(manifest: SignedDoc, root: string, seen: { facts?: ReceiptFacts; archiveInPlace?: boolean }): ArchiveSigning {
  return {
    manifest,
    signReceipt: (facts) => {
      seen.facts = facts;
      seen.archiveInPlace = existsSync(join(root, "web01", facts.file));
      return signDocument({ v: 1, kind: "receipt", ...facts }, SERVER);
    },
  };
}

/** Uploads `archive` as `file` through the whole exchange and commits it with a signed record. */
async function storeSigned(store: Store, root: string, file: string, archive: TestArchive) {
  const { upload, needed, header } = offer(store, "web01", file, archive);
  await sendNeeded(upload, archive, needed);
  const manifest = manifestOf(file, archive);
  const seen: { facts?: ReceiptFacts; archiveInPlace?: boolean } = {};
  const entry = await upload.commit(header, signingFor(manifest, root, seen));
  return { entry, manifest, seen };
}

const recordPath = (root: string, file: string) => join(root, ".signed", "web01", `${file}.json`);

describe("the signed record of an archive", () => {
  test("is written before the archive reaches its name, with the client's manifest and the receipt the entry carries", async () => {
    const root = await newRoot();
    const store = await Store.open(root, { now: () => T0 });
    const file = fileAt(T0);
    const { entry, manifest, seen } = await storeSigned(store, root, file, archiveOf("a"));
    expect(seen.archiveInPlace).toBe(false);
    expect(seen.facts).toEqual({
      client: "web01",
      name: "etc",
      file,
      archiveId: entry.archiveId,
      piecesSha256: entry.piecesSha256,
      size: entry.size,
      storedAt: entry.storedAt,
    });
    const record = await readSignedRecord(recordPath(root, file));
    expect(record).toEqual({ manifest, receipt: entry.receipt! });
    expect((await stat(recordPath(root, file))).mode & 0o777).toBe(0o640);
    expect(await readdir(join(root, "web01"))).toEqual([file]); // the client folder holds archives only
    await store.close();
  });

  test("one that cannot be written fails the commit, and no archive is left under its name", async () => {
    const root = await newRoot();
    const store = await Store.open(root, { now: () => T0 });
    const file = fileAt(T0);
    await mkdir(recordPath(root, file), { recursive: true }); // a folder where the record goes: its rename fails
    const archive = archiveOf("f");
    const { upload, needed, header } = offer(store, "web01", file, archive);
    await sendNeeded(upload, archive, needed);
    await expect(upload.commit(header, signingFor(manifestOf(file, archive), root, {}))).rejects.toThrow();
    expect(existsSync(join(root, "web01", file))).toBe(false);
    expect(store.list("web01")).toEqual([]);
    expect(await readdir(join(root, ".hashrelay", "tmp"))).toEqual([]);
    await store.close();
  });

  test("survives a lost index: the rebuilt entry has its receipt and real storage time back", async () => {
    const root = await newRoot();
    const store = await Store.open(root, { now: () => T0 });
    const file = fileAt(T0);
    const { entry } = await storeSigned(store, root, file, archiveOf("b"));
    await store.close();
    await rm(join(root, ".hashrelay"), { recursive: true });
    const reopened = await Store.open(root);
    const rebuilt = reopened.latest("web01", "etc")!;
    expect(rebuilt.receipt).toEqual(entry.receipt!);
    expect(rebuilt.storedAt).toBe(entry.storedAt);
    expect(rebuilt.storedAt).not.toBe(new Date((await stat(join(root, "web01", file))).mtimeMs).toISOString());
    await reopened.close();
  });

  test("made before the pieces digest (a receipt with fileSha256): rebuilt with that digest, which the scrub then checks", async () => {
    const root = await newRoot();
    const store = await Store.open(root, { now: () => T0 });
    const file = fileAt(T0);
    const { entry, manifest } = await storeSigned(store, root, file, archiveOf("old"));
    const { client, name, archiveId, size, storedAt } = entry;
    await store.close();
    // what a server before the pieces digest kept: a receipt over the whole file's SHA-256, in the record and the index
    const bytes = await readFile(join(root, "web01", file));
    const fileSha256 = createHash("sha256").update(bytes).digest("hex");
    const oldReceipt = signDocument({ v: 1, kind: "receipt", client, name, file, archiveId, fileSha256, size, storedAt }, SERVER);
    await writeFile(recordPath(root, file), JSON.stringify({ v: 1, manifest, receipt: oldReceipt }));
    await rm(join(root, ".hashrelay"), { recursive: true });
    const reopened = await Store.open(root);
    const rebuilt = reopened.latest("web01", "etc")!;
    expect(rebuilt.receipt).toEqual(oldReceipt);
    expect(rebuilt.fileSha256).toBe(fileSha256);
    expect(rebuilt.piecesSha256).toBeUndefined();
    expect((await reopened.verifyArchive("web01", file)).ok).toBe(true);
    await reopened.close();
    // the scrub compares the file with that digest, whichever kind (here: an index that says otherwise)
    for (const wrong of ["0".repeat(64), `pieces-sha256 ${"0".repeat(64)}`]) {
      const db = new Database(join(root, ".hashrelay", "index.sqlite"));
      db.run("UPDATE archives SET file_sha256 = ?", [wrong]);
      db.close();
      const again = await Store.open(root);
      const report = await again.verifyArchive("web01", file);
      expect(report.ok).toBe(false);
      expect(report.damaged).toEqual([]);
      await again.close();
    }
  });

  test("follows its archive into the trash, is sent with it from there, and is purged with it", async () => {
    const root = await newRoot();
    let now = T0;
    const store = await Store.open(root, { now: () => now, retention: { keep: 1, trashForMs: HOUR } });
    const first = fileAt(T0);
    const { manifest } = await storeSigned(store, root, first, archiveOf("c1"));
    const bytes = await readFile(recordPath(root, first));
    now += 60_000;
    await storeSigned(store, root, fileAt(now), archiveOf("c2"));
    expect(existsSync(recordPath(root, first))).toBe(false);
    expect(await readFile(join(root, ".trash", "web01", `${first}.signed.json`))).toEqual(bytes);
    const source = await store.archiveToSend("web01", "etc", first);
    expect(source.trashed).toBe(true);
    expect(source.manifest).toEqual(manifest);
    expect(source.facts.file).toBe(first);
    await source.close();
    now += HOUR;
    expect((await store.purgeTrash()).map((t) => t.item)).toEqual([first]);
    expect(existsSync(join(root, ".trash", "web01", `${first}.signed.json`))).toBe(false);
    await store.close();
  });

  test("the session hears 'stored' with the archive in place and indexed, before its predecessor goes to the trash", async () => {
    const root = await newRoot();
    let now = T0;
    const store = await Store.open(root, { now: () => now, retention: { keep: 1, trashForMs: HOUR } });
    const first = fileAt(T0);
    await storeSigned(store, root, first, archiveOf("d1"));
    now += 60_000;
    const second = fileAt(now);
    const archive = archiveOf("d2");
    const { upload, needed, header } = offer(store, "web01", second, archive);
    await sendNeeded(upload, archive, needed);
    const heard: { file: string; inPlace: string[]; latest?: string }[] = [];
    const signing: ArchiveSigning = {
      ...signingFor(manifestOf(second, archive), root, {}),
      stored: async (entry) => {
        heard.push({ file: entry.file, inPlace: (await readdir(join(root, "web01"))).sort(), latest: store.latest("web01", "etc")?.file });
      },
    };
    await upload.commit(header, signing);
    // Without the early call the receipt waited for the trash: the predecessor would be gone by then.
    expect(heard).toEqual([{ file: second, inPlace: [first, second].sort(), latest: second }]);
    expect(await readdir(join(root, "web01"))).toEqual([second]);
    await store.close();
  });

  test("a new receipt replaces the old one in the record and keeps the manifest", async () => {
    const root = await newRoot();
    const store = await Store.open(root, { now: () => T0 });
    const file = fileAt(T0);
    const { entry, manifest } = await storeSigned(store, root, file, archiveOf("d"));
    const other = identityFor("signed-record server, reinstalled");
    const body = JSON.parse(entry.receipt!.body) as Parameters<typeof signDocument>[0];
    const again = signDocument(body, other);
    await store.setReceipt("web01", file, again);
    expect(await readSignedRecord(recordPath(root, file))).toEqual({ manifest, receipt: again });
    const source = await store.archiveToSend("web01", "etc", file);
    expect(source.receipt).toEqual(again);
    expect(source.manifest).toEqual(manifest);
    await source.close();
    await store.close();
  });

  test("records left without their archive by a crash are cleaned at open; those with it are kept", async () => {
    const root = await newRoot();
    const store = await Store.open(root, { now: () => T0 });
    const kept = fileAt(T0);
    await storeSigned(store, root, kept, archiveOf("e"));
    await store.close();
    // a commit cut between its record and its rename; a move into the trash cut after its copy
    const cut = fileAt(T0 + 60_000);
    await writeFile(recordPath(root, cut), await readFile(recordPath(root, kept)));
    await mkdir(join(root, ".trash", "web01"), { recursive: true });
    await writeFile(join(root, ".trash", "web01", `${kept}.signed.json`), await readFile(recordPath(root, kept)));
    // and the records of a client whose folder is gone
    await mkdir(join(root, ".signed", "web02"), { recursive: true });
    await writeFile(join(root, ".signed", "web02", `${kept}.json`), await readFile(recordPath(root, kept)));
    const reopened = await Store.open(root);
    expect(existsSync(recordPath(root, cut))).toBe(false);
    expect(await readdir(join(root, ".signed", "web02"))).toEqual([]);
    expect(existsSync(join(root, ".trash", "web01", `${kept}.signed.json`))).toBe(false);
    expect(existsSync(recordPath(root, kept))).toBe(true);
    expect(reopened.list("web01").map((e) => e.file)).toEqual([kept]);
    await reopened.close();
  });
});
