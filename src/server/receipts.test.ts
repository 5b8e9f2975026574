// Receipts as the server sends them: always signed by its identity in force, and sent with the client's manifest on fetch.
import { afterEach, describe, expect, test } from "bun:test";
import { archiveFileName } from "../archive/naming.ts";
import { FrameType } from "../protocol/constants.ts";
import { decodeNeed, encodeChunkPayload, encodeManifestPage } from "../protocol/binary-frames.ts";
import type { ControlMessage } from "../protocol/messages.ts";
import { signDocument, verifyDocument, type SignedDoc } from "../protocol/signed-document.ts";
import { identityFor } from "../protocol/test-fixtures.ts";
import type { SecureSession } from "../session/secure-session.ts";
import { readSignedRecord } from "../store/signed-record.ts";
import { Store } from "../store/store.ts";
import { buildArchive, seededBytes, tempRoots, type TestArchive } from "../store/test-fixtures.ts";
import { CLIENT_IDENTITY, CLIENT_NAME, SERVER_IDENTITY, nextControl, openServedSession } from "../testing/served-session.ts";

const newRoot = tempRoots("hr-receipts-");
const stores: Store[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
});

const WAIT_MS = 5_000;
const T0 = Date.UTC(2026, 0, 10, 3, 0, 0);
const REINSTALLED = identityFor("receipts: the server, reinstalled with a new identity");
const fileAt = (minute: number) => archiveFileName("etc", new Date(T0 + minute * 60_000));
const archiveOf = (seed: string) => buildArchive(Array.from({ length: 3 }, (_, i) => seededBytes(`${seed}-${i}`, 4096)));

function manifestOf(file: string, archive: TestArchive): SignedDoc {
  const [chunks, rawSize, createdAt] = [archive.entries.length, archive.rawSize, new Date(T0).toISOString()];
  const body = { v: 1 as const, kind: "manifest" as const, client: CLIENT_NAME, name: "etc", file, archiveId: archive.archiveId };
  return signDocument({ ...body, chunks, rawSize, createdAt }, CLIENT_IDENTITY);
}

/** A whole backup over `client`: offer, page, chunks, commit; returns the signed manifest and the receipt answered. */
async function backUp(client: SecureSession, file: string, archive: TestArchive): Promise<{ manifest: SignedDoc; receipt: SignedDoc }> {
  await client.sendControl({ type: "offer", name: "etc" });
  expect(await nextControl(client)).toEqual({ type: "send-manifest", stream: true });
  await client.sendBinary(FrameType.SEALED_MANIFEST, encodeManifestPage({ firstIndex: 0, entries: archive.entries }));
  const { needed } = decodeNeed(await client.expectBinary(FrameType.SEALED_NEED, WAIT_MS));
  for (const index of needed)
    await client.sendBinary(FrameType.SEALED_CHUNK, encodeChunkPayload({ index, member: archive.members[index]! }));
  const manifest = manifestOf(file, archive);
  await client.sendControl({ type: "commit", manifest });
  const answer = await nextControl(client);
  if (answer.type !== "receipt") throw new Error(`expected a receipt, got ${answer.type}`);
  return { manifest, receipt: answer.receipt };
}

/** `fetch` of the chunk list only: the `fetching` head, once its pages are read. */
async function fetchHead(client: SecureSession, file: string): Promise<Extract<ControlMessage, { type: "fetching" }>> {
  await client.sendControl({ type: "fetch", name: "etc", file, manifestOnly: true });
  const head = await nextControl(client);
  if (head.type !== "fetching") throw new Error(`expected fetching, got ${head.type}`);
  await client.expectBinary(FrameType.SEALED_MANIFEST, WAIT_MS);
  return head;
}

async function openStore(): Promise<{ store: Store; root: string }> {
  const root = await newRoot();
  const store = await Store.open(root, { retention: { keep: 1, trashForMs: 3600_000 } });
  stores.push(store);
  return { store, root };
}

describe("fetch sends what anchors the archive", () => {
  test("the manifest the client signed at commit and the receipt it was given, for a stored and a trashed archive", async () => {
    const { store } = await openStore();
    const s = await openServedSession(store);
    const first = await backUp(s.client, fileAt(0), archiveOf("one"));
    expect(await fetchHead(s.client, fileAt(0))).toMatchObject({ manifest: first.manifest, receipt: first.receipt });
    await backUp(s.client, fileAt(1), archiveOf("two"));
    const trashed = await fetchHead(s.client, fileAt(0));
    expect(trashed).toMatchObject({ trashed: true, manifest: first.manifest, receipt: first.receipt });
    await s.client.sendControl({ type: "bye" });
    await s.served;
  });
});

describe("a server with a new identity", () => {
  test("signs the receipts it kept from its old identity again: have, fetch of a stored and of a trashed archive", async () => {
    const { store, root } = await openStore();
    const before = await openServedSession(store);
    const kept = await backUp(before.client, fileAt(0), archiveOf("old"));
    const latest = await backUp(before.client, fileAt(1), archiveOf("new"));
    await before.client.sendControl({ type: "bye" });
    await before.served;

    const s = await openServedSession(store, CLIENT_IDENTITY, REINSTALLED);
    await s.client.sendControl({ type: "offer", name: "etc", archiveId: archiveOf("new").archiveId });
    const have = await nextControl(s.client);
    if (have.type !== "have") throw new Error(`expected have, got ${have.type}`);
    const body = verifyDocument(have.receipt, REINSTALLED.publicKey, "receipt");
    expect(body).toEqual(verifyDocument(latest.receipt, SERVER_IDENTITY.publicKey, "receipt"));
    expect(s.logs.some((l) => l.message.includes("signed again by") && l.message.includes(latest.receipt.key))).toBe(true);
    // recorded: the signed record holds the new receipt beside the client's manifest
    expect(await readSignedRecord(`${root}/.signed/${CLIENT_NAME}/${fileAt(1)}.json`)).toEqual({
      manifest: latest.manifest,
      receipt: have.receipt,
    });
    expect((await fetchHead(s.client, fileAt(1))).receipt).toEqual(have.receipt);
    const trashed = await fetchHead(s.client, fileAt(0));
    expect(trashed.manifest).toEqual(kept.manifest);
    expect(verifyDocument(trashed.receipt, REINSTALLED.publicKey, "receipt")).toEqual(
      verifyDocument(kept.receipt, SERVER_IDENTITY.publicKey, "receipt"),
    );
    await s.client.sendControl({ type: "bye" });
    await s.served;
  });
});
