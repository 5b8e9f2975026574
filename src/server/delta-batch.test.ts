// DELTA_BATCH (PROTOCOL.md §8.9) through a real server session: each chunk rebuilt and stored, a forged one refused, version 2 refused;
// and version 4's derived entries (§8.5), whose ids come from the rebuilt bytes: a forged delta refused at commit, BAD_FRAME in version 3.
import { afterEach, describe, expect, test } from "bun:test";
import { BlockIndex, blocksOf, deltaPieces } from "../archive/chunk-delta.ts";
import { encodeDeltaBatch } from "../archive/delta-batch.ts";
import { encodeDiffPage } from "../archive/manifest-diff-page.ts";
import { archiveFileName } from "../archive/naming.ts";
import { decodeNeed } from "../protocol/binary-frames.ts";
import { FrameType } from "../protocol/constants.ts";
import { openClientSession, type SecureSession } from "../session/secure-session.ts";
import { Store } from "../store/store.ts";
import { buildArchive, seededBytes, sha256, tempRoots, uploadArchive, type TestArchive } from "../store/test-fixtures.ts";
import {
  CLIENT_IDENTITY,
  CLIENT_NAME,
  SERVER_IDENTITY,
  endedWith,
  offerAgainst,
  openServedSession,
  serveOverMemory,
  signedManifest,
} from "../testing/served-session.ts";

const newRoot = tempRoots("hr-delta-batch-");
const stores: Store[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
});

const T0 = Date.UTC(2026, 0, 10, 3, 0, 0);
const encoder = new TextEncoder();
const text = (seed: number) =>
  encoder.encode(Array.from({ length: 500 }, (_, i) => `${seed}.key_${i} = ${(i * 7919) % 100_003}\n`).join(""));
const edited = (old: Uint8Array, line: string) =>
  new Uint8Array([...old.subarray(0, 5_000), ...encoder.encode(line), ...old.subarray(5_000)]);

/** The base stored; in the new archive chunks 1 and 3 have a line inserted: the batch of their deltas, and one forged. */
async function setUp() {
  const store = await Store.open(await newRoot());
  stores.push(store);
  const base = buildArchive([seededBytes("a", 4096), text(1), seededBytes("c", 4096), text(2)]);
  await uploadArchive(store, CLIENT_NAME, archiveFileName("etc", new Date(T0)), base);
  const raws = [base.raws[0]!, edited(base.raws[1]!, "one new line\n"), base.raws[2]!, edited(base.raws[3]!, "another\n")];
  const next = buildArchive(raws);
  const index = new BlockIndex(base.raws.map((raw) => blocksOf(sha256(raw), raw)));
  const placeOf = (id: Uint8Array) => base.entries.findIndex((e) => Buffer.from(e.id).equals(Buffer.from(id)));
  const delta = (i: number, raw: Uint8Array) => ({ index: i, raw, pieces: deltaPieces(blocksOf(sha256(raw), raw), index).pieces });
  // a version-4 session's batches (the default here): the literal stream with its context as dictionary
  const body = encodeDeltaBatch([delta(1, raws[1]!), delta(3, raws[3]!)], placeOf, true);
  const plainBody = encodeDeltaBatch([delta(1, raws[1]!), delta(3, raws[3]!)], placeOf);
  // the same pieces over other literal bytes: it rebuilds, but not the chunk the entry names
  const other = raws[3]!.slice();
  other[5_002]! ^= 0x01;
  const forged = encodeDeltaBatch([delta(1, raws[1]!), { ...delta(3, raws[3]!), raw: other }], placeOf, true);
  // version 4: chunks 1 and 3 as derived entries (no ids), between copies of base entries 0 and 2
  const derivedPage = encodeDiffPage(
    0,
    4,
    [
      { kind: "copy", baseIndex: 0, count: 1 },
      { kind: "derived", rawLengths: [raws[1]!.length] },
      { kind: "copy", baseIndex: 2, count: 1 },
      { kind: "derived", rawLengths: [raws[3]!.length] },
    ],
    true,
  );
  return { store, base, next, body, plainBody, forged, derivedPage };
}

/** Offers the new archive against `base` with `page` as its one MANIFEST_DIFF; returns what the NEED asks for. */
async function offerDiff(client: SecureSession, base: TestArchive, page: Uint8Array): Promise<number[]> {
  await client.sendControl({ type: "offer", name: "etc", base: base.archiveId });
  expect(await client.receive(5_000)).toMatchObject({ kind: "control", message: { type: "send-manifest", base: true } });
  await client.sendBinary(FrameType.SEALED_MANIFEST_DIFF, page);
  return decodeNeed(await client.expectBinary(FrameType.SEALED_NEED, 5_000)).needed;
}

describe("delta batches through a session", () => {
  test("a batch of two deltas is rebuilt, checked and stored as two ordinary members", async () => {
    const { store, base, next, body } = await setUp();
    const s = await openServedSession(store);
    expect(await offerAgainst(s.client, base, next)).toEqual([1, 3]);
    await s.client.sendBinary(FrameType.SEALED_DELTA_BATCH, body);
    const file = archiveFileName("etc", new Date(T0 + 60_000));
    await s.client.sendControl({ type: "commit", manifest: signedManifest(file, next, T0) });
    expect(await s.client.receive(5_000)).toMatchObject({ kind: "control", message: { type: "receipt" } });
    expect(store.latest(CLIENT_NAME, "etc")?.archiveId).toBe(next.archiveId);
  });

  test("a batch with one forged chunk is HASH_MISMATCH and nothing is stored", async () => {
    const { store, base, next, forged } = await setUp();
    const s = await openServedSession(store);
    await offerAgainst(s.client, base, next);
    await s.client.sendBinary(FrameType.SEALED_DELTA_BATCH, forged);
    expect(await endedWith(s.client)).toBe("HASH_MISMATCH");
    await s.served;
    expect(store.list(CLIENT_NAME)).toHaveLength(1);
  });

  test("in a version-2 session a batch is BAD_FRAME", async () => {
    const { store, base, next, body } = await setUp();
    const served = serveOverMemory(store);
    const old = await openClientSession(served.clientEnd, CLIENT_IDENTITY, SERVER_IDENTITY.publicKey, { version: 2 });
    await offerAgainst(old, base, next);
    await old.sendBinary(FrameType.SEALED_DELTA_BATCH, body);
    expect(await endedWith(old)).toBe("BAD_FRAME");
    await served.served;
    expect(store.list(CLIENT_NAME)).toHaveLength(1);
  });

  test("in a version-3 session the literal stream has no dictionary: that batch is stored, the version-4 one is not", async () => {
    for (const [batch, stored] of [
      ["plain", true],
      ["with context", false],
    ] as const) {
      const { store, base, next, body, plainBody } = await setUp();
      const served = serveOverMemory(store);
      const old = await openClientSession(served.clientEnd, CLIENT_IDENTITY, SERVER_IDENTITY.publicKey, { version: 3 });
      await offerAgainst(old, base, next);
      await old.sendBinary(FrameType.SEALED_DELTA_BATCH, batch === "plain" ? plainBody : body);
      await old.sendControl({ type: "commit", manifest: signedManifest(archiveFileName("etc", new Date(T0 + 60_000)), next, T0) });
      if (stored) expect(await old.receive(5_000)).toMatchObject({ kind: "control", message: { type: "receipt" } });
      else expect(await endedWith(old)).not.toBe("no error");
      expect(store.latest(CLIENT_NAME, "etc")?.archiveId).toBe(stored ? next.archiveId : base.archiveId);
    }
  });
});

describe("derived entries through a session (protocol version 4)", () => {
  const file = archiveFileName("etc", new Date(T0 + 60_000));

  test("a page of derived entries and the batch of their deltas: the ids come from the rebuilt bytes, the archive is stored", async () => {
    const { store, base, next, body, derivedPage } = await setUp();
    const s = await openServedSession(store);
    expect(s.client.version).toBeGreaterThanOrEqual(4);
    expect(derivedPage.length).toBeLessThan(8 + 2 * (5 + 36));
    expect(await offerDiff(s.client, base, derivedPage)).toEqual([1, 3]);
    await s.client.sendBinary(FrameType.SEALED_DELTA_BATCH, body);
    await s.client.sendControl({ type: "commit", manifest: signedManifest(file, next, T0) });
    expect(await s.client.receive(5_000)).toMatchObject({ kind: "control", message: { type: "receipt" } });
    expect(store.latest(CLIENT_NAME, "etc")?.archiveId).toBe(next.archiveId);
  });

  test("a forged delta rebuilds a chunk of the right length: the commit is HASH_MISMATCH and nothing is stored", async () => {
    const { store, base, next, forged, derivedPage } = await setUp();
    const s = await openServedSession(store);
    await offerDiff(s.client, base, derivedPage);
    await s.client.sendBinary(FrameType.SEALED_DELTA_BATCH, forged);
    await s.client.sendControl({ type: "commit", manifest: signedManifest(file, next, T0) });
    expect(await endedWith(s.client)).toBe("HASH_MISMATCH");
    await s.served;
    expect(store.list(CLIENT_NAME)).toHaveLength(1);
  });

  test("in a version-3 session the version-4 ops are BAD_FRAME", async () => {
    const { store, base, derivedPage } = await setUp();
    const served = serveOverMemory(store);
    const old = await openClientSession(served.clientEnd, CLIENT_IDENTITY, SERVER_IDENTITY.publicKey, { version: 3 });
    await old.sendControl({ type: "offer", name: "etc", base: base.archiveId });
    await old.receive(5_000);
    await old.sendBinary(FrameType.SEALED_MANIFEST_DIFF, derivedPage);
    expect(await endedWith(old)).toBe("BAD_FRAME");
    await served.served;
    expect(store.list(CLIENT_NAME)).toHaveLength(1);
  });
});
