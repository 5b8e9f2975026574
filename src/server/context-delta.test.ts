// A CONTEXT_DELTA (PROTOCOL.md §8.7) through a real server session: rebuilt, checked, stored as an ordinary member, or refused.
import { afterEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { BlockIndex, blocksOf, deltaPieces } from "../archive/chunk-delta.ts";
import { encodeContextDelta } from "../archive/context-delta.ts";
import { readMemberLength } from "../archive/gzip-member.ts";
import { archiveFileName } from "../archive/naming.ts";
import { HashRelayError } from "../errors.ts";
import { FrameType } from "../protocol/constants.ts";
import { decodeNeed, encodeManifestPage } from "../protocol/binary-frames.ts";
import { Store } from "../store/store.ts";
import { buildArchive, seededBytes, sha256, tempRoots, uploadArchive, type TestArchive } from "../store/test-fixtures.ts";
import { CLIENT_NAME, offerAgainst, openServedSession, signedManifest } from "../testing/served-session.ts";
import type { SecureSession } from "../session/secure-session.ts";

const newRoot = tempRoots("hr-context-delta-");
const stores: Store[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
});

const T0 = Date.UTC(2026, 0, 10, 3, 0, 0);
const text = (seed: number, size: number) =>
  new TextEncoder().encode(
    Array.from({ length: size / 32 }, (_, i) => `line ${seed}.${i % 97} value ${(i * 7) % 13}`.padEnd(31, ".") + "\n").join(""),
  );

/** The base archive stored; the new one differs in chunk 1 by one line. */
async function setUp() {
  const root = await newRoot();
  const store = await Store.open(root);
  stores.push(store);
  const base = buildArchive([seededBytes("a", 4096), text(1, 16_384), seededBytes("c", 4096)]);
  await uploadArchive(store, CLIENT_NAME, archiveFileName("etc", new Date(T0)), base);
  const old = base.raws[1]!;
  const edited = new Uint8Array([
    ...old.subarray(0, 8_000),
    ...new TextEncoder().encode("a line the base never had\n"),
    ...old.subarray(8_000),
  ]);
  const next = buildArchive([base.raws[0]!, edited, base.raws[2]!]);
  const { pieces } = deltaPieces(blocksOf(sha256(edited), edited), new BlockIndex([blocksOf(sha256(old), old)]));
  // the same ops, the inserted line's bytes changed: a valid delta of bytes whose SHA-256 is not the entry's
  const other = edited.slice();
  other[8_005]! ^= 0x01;
  return { root, store, base, next, body: encodeContextDelta(edited, pieces), forged: encodeContextDelta(other, pieces) };
}

const framed = (index: number, body: Uint8Array) => new Uint8Array([0, 0, 0, index, ...body]);

describe("context deltas through a session", () => {
  test("a context delta is rebuilt and stored: the receipt's archive holds an ordinary gzip member for it", async () => {
    const { root, store, base, next, body } = await setUp();
    const s = await openServedSession(store);
    expect(await offerAgainst(s.client, base, next)).toEqual([1]);
    await s.client.sendBinary(FrameType.SEALED_CONTEXT_DELTA, framed(1, body));
    const file = archiveFileName("etc", new Date(T0 + 60_000));
    const manifest = signedManifest(file, next, T0);
    await s.client.sendControl({ type: "commit", manifest });
    expect(await s.client.receive(5_000)).toMatchObject({ kind: "control", message: { type: "receipt" } });
    expect(store.latest(CLIENT_NAME, "etc")?.archiveId).toBe(next.archiveId);
    const stored = new Uint8Array(readFileSync(join(root, CLIENT_NAME, file)));
    const first = readMemberLength(stored, 0);
    const second = stored.subarray(first, first + readMemberLength(stored, first));
    expect(Buffer.from(gunzipSync(second)).equals(Buffer.from(next.raws[1]!))).toBe(true);
    expect(s.told).toContain(`chunkReceived:${CLIENT_NAME},${body.length}`);
  });

  test("a forged context delta is HASH_MISMATCH and nothing is stored", async () => {
    const { store, base, next, forged } = await setUp();
    const s = await openServedSession(store);
    await offerAgainst(s.client, base, next);
    await s.client.sendBinary(FrameType.SEALED_CONTEXT_DELTA, framed(1, forged));
    const err = await s.client.receive(5_000).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(HashRelayError);
    expect((err as HashRelayError).code).toBe("HASH_MISMATCH");
    await s.served;
    expect(store.latest(CLIENT_NAME, "etc")?.archiveId).toBe(base.archiveId);
    expect(store.list(CLIENT_NAME)).toHaveLength(1);
  });
});
