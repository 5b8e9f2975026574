// Version 5's pipelining, as the server sees it (PROTOCOL.md §10): a ping behind the AUTH, pages before NEEDs, a ping behind commit.
import { afterEach, describe, expect, test } from "bun:test";
import { archiveFileName } from "../archive/naming.ts";
import { decodeNeed, encodeChunkPayload, encodeManifestPage } from "../protocol/binary-frames.ts";
import { FrameType, PIPELINED_VERSION } from "../protocol/constants.ts";
import { openClientSession, type SecureSession } from "../session/secure-session.ts";
import { Store } from "../store/store.ts";
import { buildArchive, seededBytes, tempRoots } from "../store/test-fixtures.ts";
import {
  CLIENT_IDENTITY,
  CLIENT_NAME,
  SERVER_IDENTITY,
  openServedSession,
  serveOverMemory,
  signedManifest,
} from "../testing/served-session.ts";

const newRoot = tempRoots("hr-pipelined-");
const stores: Store[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
});

async function openStore(): Promise<Store> {
  const store = await Store.open(await newRoot());
  stores.push(store);
  return store;
}

const WAIT_MS = 5_000;
const T0 = Date.UTC(2026, 0, 10, 3, 0, 0);
const archiveOf = (seed: string, count: number) => buildArchive(Array.from({ length: count }, (_, i) => seededBytes(`${seed}-${i}`, 4096)));

/** The types of the next `n` messages the client reads (control messages by their `type`, binary frames by theirs). */
async function nextTypes(client: SecureSession, n: number): Promise<(string | number)[]> {
  const types: (string | number)[] = [];
  for (let i = 0; i < n; i++) {
    const incoming = await client.receive(WAIT_MS);
    types.push(incoming.kind === "control" ? incoming.message.type : incoming.type);
  }
  return types;
}

describe("a version-5 session (and later)", () => {
  test("the probe's ping goes behind the client AUTH and its pong follows welcome; an older session leaves it for after", async () => {
    expect(PIPELINED_VERSION).toBe(5);
    const store = await openStore();
    const served = serveOverMemory(store);
    const ping = { type: "ping", id: 7, configHash: "c".repeat(64) } as const;
    const client = await openClientSession(served.clientEnd, CLIENT_IDENTITY, SERVER_IDENTITY.publicKey, { early: ping });
    expect(client.version).toBe(6);
    // the ping was on the wire before the session was handed back: HELLO, AUTH and the ping, nothing after welcome
    expect(served.frames.filter((f) => f.from === "a").map((f) => f.type)).toEqual([
      FrameType.HELLO,
      FrameType.AUTH,
      FrameType.SEALED_CONTROL,
    ]);
    expect(await client.expect(["pong"], WAIT_MS)).toMatchObject({ type: "pong", id: 7 });
    expect(served.told).toContain(`configHash:${CLIENT_NAME},${"c".repeat(64)}`);
    await client.sendControl({ type: "bye" });
    await served.served;

    const old = serveOverMemory(store);
    const four = await openClientSession(old.clientEnd, CLIENT_IDENTITY, SERVER_IDENTITY.publicKey, { early: ping, version: 4 });
    expect(four.version).toBe(4);
    expect(old.frames.filter((f) => f.from === "a").map((f) => f.type)).toEqual([FrameType.HELLO, FrameType.AUTH]);
    await four.sendControl({ type: "bye" });
    await old.served;
  });

  test("page 2 before page 1's NEED, a ping behind commit and one behind a claim: each pong after the answer before it", async () => {
    const store = await openStore();
    const archive = archiveOf("etc", 5);
    const file = archiveFileName("etc", new Date(T0));
    const s = await openServedSession(store);
    expect(s.client.version).toBe(6);
    await s.client.sendControl({ type: "offer", name: "etc" });
    expect(await nextTypes(s.client, 1)).toEqual(["send-manifest"]);
    // both pages at once: the second does not wait for the first one's NEED
    await s.client.sendBinary(FrameType.SEALED_MANIFEST, encodeManifestPage({ firstIndex: 0, entries: archive.entries.slice(0, 2) }));
    await s.client.sendBinary(FrameType.SEALED_MANIFEST, encodeManifestPage({ firstIndex: 2, entries: archive.entries.slice(2) }));
    const first = decodeNeed(await s.client.expectBinary(FrameType.SEALED_NEED, WAIT_MS));
    const second = decodeNeed(await s.client.expectBinary(FrameType.SEALED_NEED, WAIT_MS));
    expect([first.firstIndex, first.needed, second.firstIndex, second.needed]).toEqual([0, [0, 1], 2, [2, 3, 4]]);
    for (const index of [0, 1, 2, 3, 4])
      await s.client.sendBinary(FrameType.SEALED_CHUNK, encodeChunkPayload({ index, member: archive.members[index]! }));
    await s.client.sendControl({ type: "commit", manifest: signedManifest(file, archive, T0) });
    await s.client.sendControl({ type: "ping", id: 8 });
    expect(await nextTypes(s.client, 2)).toEqual(["receipt", "pong"]);
    expect(store.latest(CLIENT_NAME, "etc")?.archiveId).toBe(archive.archiveId);
    // a ping behind an offer that claims the stored archive: have, then pong
    await s.client.sendControl({ type: "offer", name: "etc", archiveId: archive.archiveId });
    await s.client.sendControl({ type: "ping", id: 9 });
    expect(await nextTypes(s.client, 2)).toEqual(["have", "pong"]);
    await s.client.sendControl({ type: "bye" });
    await s.served;
  });
});
