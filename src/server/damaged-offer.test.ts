// PROTOCOL.md §10 steps 3 and 6 when the claimed archive is known damaged: `send-manifest` with `damaged`, and the same content stored again.
import { afterEach, expect, test } from "bun:test";
import { readFile, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { archiveFileName } from "../archive/naming.ts";
import { FrameType } from "../protocol/constants.ts";
import { decodeNeed, encodeChunkPayload, encodeManifestPage } from "../protocol/binary-frames.ts";
import { Store } from "../store/store.ts";
import { buildArchive, seededBytes, tempRoots, uploadArchive } from "../store/test-fixtures.ts";
import { CLIENT_NAME, nextControl, openServedSession, signedManifest } from "../testing/served-session.ts";

const newRoot = tempRoots("hr-damaged-offer-");
const stores: Store[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
});

const T0 = Date.UTC(2026, 0, 10, 3, 0, 0);
const WAIT_MS = 5_000;

/** The next message, which must be a control message. */
test("an unchanged offer of a damaged latest archive gets send-manifest {damaged}; the upload stores it again, asking only for the damaged chunk", async () => {
  const root = await newRoot();
  const first = await Store.open(root);
  const archive = buildArchive(Array.from({ length: 4 }, (_, i) => seededBytes(`claimed-${i}`, 4096)));
  const rotten = archiveFileName("etc", new Date(T0));
  await uploadArchive(first, CLIENT_NAME, rotten, archive);
  await first.close();
  // bit rot keeps the mtime (a whole second here, so that utimes gives it back exactly): the index stays as it is
  const path = join(root, CLIENT_NAME, rotten);
  await utimes(path, 1_750_000_000, 1_750_000_000);
  const store = await Store.open(root);
  stores.push(store);
  const bytes = new Uint8Array(await readFile(path));
  bytes[archive.members[0]!.length + 40]! ^= 0x08; // inside member 1
  await writeFile(path, bytes);
  await utimes(path, 1_750_000_000, 1_750_000_000);
  expect((await store.verifyArchive(CLIENT_NAME, rotten, "scrub")).ok).toBe(false);

  const { client } = await openServedSession(store);
  await client.sendControl({ type: "offer", name: "etc", archiveId: archive.archiveId });
  // version 5: a ping behind a claiming offer (PROTOCOL.md §10 step 3) is answered right after send-manifest, in the upload
  await client.sendControl({ type: "ping", id: 3 });
  expect(await nextControl(client)).toEqual({ type: "send-manifest", damaged: rotten, stream: true });
  expect(await nextControl(client)).toMatchObject({ type: "pong", id: 3 });
  await client.sendBinary(FrameType.SEALED_MANIFEST, encodeManifestPage({ firstIndex: 0, entries: archive.entries }));
  const need = decodeNeed(await client.expectBinary(FrameType.SEALED_NEED, WAIT_MS));
  expect(need.needed).toEqual([1]);
  await client.sendBinary(FrameType.SEALED_CHUNK, encodeChunkPayload({ index: 1, member: archive.members[1]! }));
  // the same archive id as the stored one: stored again under the new name, not answered `have`
  const file = archiveFileName("etc", new Date(T0 + 3_600_000));
  const manifest = signedManifest(file, archive, T0);
  await client.sendControl({ type: "commit", manifest });
  expect(await nextControl(client)).toMatchObject({ type: "receipt" });
  expect(store.latest(CLIENT_NAME, "etc")?.file).toBe(file);
  expect((await store.verifyArchive(CLIENT_NAME, file)).ok).toBe(true);
  // repaired: the next claim is answered `have`
  await client.sendControl({ type: "offer", name: "etc", archiveId: archive.archiveId });
  expect(await nextControl(client)).toMatchObject({ type: "have" });
  // retention runs after the receipt, before the session's next message is read
  expect((await store.listTrashed(CLIENT_NAME)).map((t) => t.file)).toEqual([rotten]);
});
