// HASH_REQUEST and SUB_HASHES (PROTOCOL.md §8.8) through a real server session: answered, used, forged, hostile, or out of version.
import { afterEach, describe, expect, test } from "bun:test";
import { BlockIndex, blocksOf, deltaPieces, type DeltaPiece } from "../archive/chunk-delta.ts";
import { encodeContextDelta } from "../archive/context-delta.ts";
import { archiveFileName } from "../archive/naming.ts";
import { answerHashRequest, encodeHashRequest, type HashRange } from "../archive/sub-block-hashes.ts";
import { questionsFor, withSubBlocks } from "../archive/sub-block-match.ts";
import { FrameType } from "../protocol/constants.ts";
import { decodeNeed, encodeManifestPage } from "../protocol/binary-frames.ts";
import { openClientSession } from "../session/secure-session.ts";
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

const newRoot = tempRoots("hr-sub-hashes-");
const stores: Store[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
});

const T0 = Date.UTC(2026, 0, 10, 3, 0, 0);
const encoder = new TextEncoder();
const text = (seed: number, lines: number) =>
  encoder.encode(
    Array.from({ length: lines }, (_, i) => `${seed}.key_${i} = ${(i * 7919) % 100_003} # ${"xyzw".repeat(1 + (i % 7))}\n`).join(""),
  );

/** The base archive stored; in the new one chunk 1 has a line replaced: its delta, block by block and with sub-blocks. */
async function setUp() {
  const store = await Store.open(await newRoot());
  stores.push(store);
  const base = buildArchive([seededBytes("a", 4096), text(1, 500), seededBytes("c", 4096)]);
  await uploadArchive(store, CLIENT_NAME, archiveFileName("etc", new Date(T0)), base);
  const old = base.raws[1]!;
  const at = 9_000;
  const edited = new Uint8Array([...old.subarray(0, at), ...encoder.encode("a line the base never had\n"), ...old.subarray(at + 40)]);
  const next = buildArchive([base.raws[0]!, edited, base.raws[2]!]);
  const { pieces } = deltaPieces(blocksOf(sha256(edited), edited), new BlockIndex([blocksOf(sha256(old), old)]));
  const questions = questionsFor(pieces, (id) => ({ id, baseIndex: 1, rawLength: old.length }));
  const ranges: HashRange[] = questions.flatMap((q) => q.ranges);
  return { store, base, next, edited, old, pieces, questions, ranges };
}

const framed = (index: number, body: Uint8Array) => new Uint8Array([0, 0, 0, index, ...body]);
const literalBytes = (pieces: readonly DeltaPiece[]) => pieces.reduce((n, p) => n + ("literal" in p ? p.literal.length : 0), 0);

/** A hash request body of `n` ranges as given, for hostile cases. */
function rawRequest(firstIndex: number, n: number, ranges: HashRange[]): Uint8Array {
  const body = encodeHashRequest(firstIndex, ranges);
  new DataView(body.buffer).setUint32(4, n);
  return body;
}

describe("sub-block hashes through a session", () => {
  test("a request after the NEED is answered with the base's hashes; a delta cut with them is rebuilt and stored", async () => {
    const { store, base, next, edited, old, pieces, questions, ranges } = await setUp();
    const s = await openServedSession(store);
    expect(await offerAgainst(s.client, base, next)).toEqual([1]);
    await s.client.sendBinary(FrameType.SEALED_HASH_REQUEST, encodeHashRequest(0, ranges));
    const answer = await s.client.expectBinary(FrameType.SEALED_SUB_HASHES, 5_000);
    const hashes = ranges.reduce((n, r) => n + r.count, 0);
    expect(answer).toEqual(answerHashRequest(0, ranges, hashes, () => old));
    const finer = withSubBlocks(edited, pieces, questions, new DataView(answer.buffer, answer.byteOffset + 4));
    // the 1 KiB blocks around the line are copied but for the sub-blocks the edit touches
    expect(literalBytes(finer)).toBeLessThan(200);
    expect(literalBytes(pieces)).toBeGreaterThan(1000);
    // its copies name the base entry by its place (BASE_COPY, version 3)
    await s.client.sendBinary(
      FrameType.SEALED_CONTEXT_DELTA,
      framed(
        1,
        encodeContextDelta(edited, finer, () => 1),
      ),
    );
    const file = archiveFileName("etc", new Date(T0 + 60_000));
    await s.client.sendControl({ type: "commit", manifest: signedManifest(file, next, T0) });
    expect(await s.client.receive(5_000)).toMatchObject({ kind: "control", message: { type: "receipt" } });
    expect(store.latest(CLIENT_NAME, "etc")?.archiveId).toBe(next.archiveId);
  });

  test("a forged delta (a sub-block copied from the wrong place) is HASH_MISMATCH and nothing is stored", async () => {
    const { store, base, next, edited, pieces, questions, ranges } = await setUp();
    const s = await openServedSession(store);
    await offerAgainst(s.client, base, next);
    await s.client.sendBinary(FrameType.SEALED_HASH_REQUEST, encodeHashRequest(0, ranges));
    const answer = await s.client.expectBinary(FrameType.SEALED_SUB_HASHES, 5_000);
    const finer = withSubBlocks(edited, pieces, questions, new DataView(answer.buffer, answer.byteOffset + 4));
    const moved = finer.map((p) => ("copy" in p && p.copy.offset > 64 ? { copy: { ...p.copy, offset: p.copy.offset - 64 } } : p));
    await s.client.sendBinary(FrameType.SEALED_CONTEXT_DELTA, framed(1, encodeContextDelta(edited, moved)));
    expect(await endedWith(s.client)).toBe("HASH_MISMATCH");
    await s.served;
    expect(store.list(CLIENT_NAME)).toHaveLength(1);
  });

  const hostile: [string, (ranges: HashRange[]) => Uint8Array, string][] = [
    ["more ranges than MAX_HASH_RANGES, in a short body", () => rawRequest(0, 0xffff_ffff, []), "TOO_LARGE"],
    [
      "more hashes than MAX_SUB_HASHES (an answer of gigabytes)",
      () => encodeHashRequest(0, [{ baseIndex: 1, offset: 0, count: 0xffff_ffff }]),
      "TOO_LARGE",
    ],
    ["a range past the end of its chunk", () => encodeHashRequest(0, [{ baseIndex: 1, offset: 20_000, count: 4 }]), "BAD_FRAME"],
    ["a base entry past the base", () => encodeHashRequest(0, [{ baseIndex: 3, offset: 0, count: 1 }]), "BAD_FRAME"],
    ["a count of zero", () => encodeHashRequest(0, [{ baseIndex: 1, offset: 0, count: 0 }]), "BAD_FRAME"],
    ["a body that is not its ranges", () => rawRequest(0, 2, [{ baseIndex: 1, offset: 0, count: 1 }]), "BAD_FRAME"],
    ["a page the server has not answered", (ranges) => encodeHashRequest(7, ranges), "BAD_FRAME"],
  ];
  for (const [what, body, code] of hostile) {
    test(`a hash request with ${what} ends the session with ${code}, and nothing is stored`, async () => {
      const { store, base, next, ranges } = await setUp();
      const s = await openServedSession(store);
      await offerAgainst(s.client, base, next);
      await s.client.sendBinary(FrameType.SEALED_HASH_REQUEST, body(ranges));
      expect(await endedWith(s.client)).toBe(code);
      await s.served;
      expect(store.list(CLIENT_NAME)).toHaveLength(1);
    });
  }

  test("a second request for the same page, and a request in a version-2 session, are BAD_FRAME", async () => {
    const { store, base, next, ranges } = await setUp();
    const s = await openServedSession(store);
    await offerAgainst(s.client, base, next);
    await s.client.sendBinary(FrameType.SEALED_HASH_REQUEST, encodeHashRequest(0, ranges));
    await s.client.expectBinary(FrameType.SEALED_SUB_HASHES, 5_000);
    await s.client.sendBinary(FrameType.SEALED_HASH_REQUEST, encodeHashRequest(0, ranges));
    expect(await endedWith(s.client)).toBe("BAD_FRAME");

    const served = serveOverMemory(store);
    const old = await openClientSession(served.clientEnd, CLIENT_IDENTITY, SERVER_IDENTITY.publicKey, { version: 2 });
    expect(old.version).toBe(2);
    await offerAgainst(old, base, next);
    await old.sendBinary(FrameType.SEALED_HASH_REQUEST, encodeHashRequest(0, ranges));
    expect(await endedWith(old)).toBe("BAD_FRAME");
    await served.served;
    expect(store.list(CLIENT_NAME)).toHaveLength(1);
  });

  test("in a version-2 session a context delta's copy by base place is BAD_FRAME", async () => {
    const { store, base, next, edited, pieces } = await setUp();
    const served = serveOverMemory(store);
    const old = await openClientSession(served.clientEnd, CLIENT_IDENTITY, SERVER_IDENTITY.publicKey, { version: 2 });
    await offerAgainst(old, base, next);
    await old.sendBinary(
      FrameType.SEALED_CONTEXT_DELTA,
      framed(
        1,
        encodeContextDelta(edited, pieces, () => 1),
      ),
    );
    expect(await endedWith(old)).toBe("BAD_FRAME");
    await served.served;
    expect(store.list(CLIENT_NAME)).toHaveLength(1);
  });
});
