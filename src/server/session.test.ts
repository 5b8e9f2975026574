// The server session's state machine (idle, uploading, proving) over an in-memory connection, a real Store and a real client session.
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { archiveFileName } from "../archive/naming.ts";
import { HashRelayError } from "../errors.ts";
import { FrameType } from "../protocol/constants.ts";
import { decodeNeed, encodeChunkPayload, encodeManifestPage } from "../protocol/binary-frames.ts";
import type { ControlMessage } from "../protocol/messages.ts";
import { proofAnswer } from "../protocol/proof.ts";
import { verifyDocument, type SignedDoc } from "../protocol/signed-document.ts";
import { identityFor } from "../protocol/test-fixtures.ts";
import type { SecureSession } from "../session/secure-session.ts";
import type { Store } from "../store/store.ts";
import { buildArchive, seededBytes, uploadArchive, type TestArchive } from "../store/test-fixtures.ts";
import {
  CLIENT_IDENTITY,
  CLIENT_NAME,
  SERVER_IDENTITY,
  nextControl,
  openServedSession,
  serveOverMemory,
  signedManifest,
  storesIn,
} from "../testing/served-session.ts";
import { openClientSession } from "../session/secure-session.ts";

const openStore = storesIn("hr-session-");

const WAIT_MS = 5_000;
const T0 = Date.UTC(2026, 0, 10, 3, 0, 0);
const fileOf = (name: string, minute = 0) => archiveFileName(name, new Date(T0 + minute * 60_000));
const archiveOf = (seed: string, count = 3) => buildArchive(Array.from({ length: count }, (_, i) => seededBytes(`${seed}-${i}`, 4096)));

/** Waits for the server's refusal: the sealed error it sends before it closes. Returns its code and message. */
async function refusal(client: SecureSession): Promise<{ code: string; message: string }> {
  const err = await client.receive(WAIT_MS).then(
    (got) => {
      throw new Error(`expected a refusal, got ${got.kind === "control" ? got.message.type : "a binary frame"}`);
    },
    (e: unknown) => e,
  );
  if (!(err instanceof HashRelayError)) throw err;
  return { code: err.code, message: err.message };
}

/** The manifest a client signs at commit for `archive` stored as `file`. */
/** offer → send-manifest → one manifest page → NEED; returns the indices asked for. */
async function startUpload(client: SecureSession, name: string, archive: TestArchive): Promise<number[]> {
  await client.sendControl({ type: "offer", name });
  expect(await nextControl(client)).toEqual({ type: "send-manifest", stream: true });
  await client.sendBinary(FrameType.SEALED_MANIFEST, encodeManifestPage({ firstIndex: 0, entries: archive.entries }));
  const need = decodeNeed(await client.expectBinary(FrameType.SEALED_NEED, WAIT_MS));
  expect(need.firstIndex).toBe(0);
  expect(need.count).toBe(archive.entries.length);
  return need.needed;
}

async function sendChunks(client: SecureSession, archive: TestArchive, indices: number[]): Promise<void> {
  for (const index of indices)
    await client.sendBinary(FrameType.SEALED_CHUNK, encodeChunkPayload({ index, member: archive.members[index]! }));
}

/** What a client can see of the stored data: the catalog and every file under the client's folder and the trash, with its SHA-256. */
async function storedData(store: Store, root: string): Promise<unknown> {
  const files: Record<string, string> = {};
  for (const dir of [CLIENT_NAME, join(".trash", CLIENT_NAME)]) {
    const names = await readdir(join(root, dir)).catch(() => [] as string[]);
    for (const name of names.sort())
      files[join(dir, name)] = createHash("sha256")
        .update(await readFile(join(root, dir, name)))
        .digest("hex");
  }
  return { catalog: store.list(CLIENT_NAME), trashed: await store.listTrashed(CLIENT_NAME), files };
}

describe("server session, idle", () => {
  test("ping is answered with pong and its id; a new configHash is told once; bye ends the session", async () => {
    const { store } = await openStore();
    const s = await openServedSession(store);
    const hash = "a".repeat(64);
    for (const [id, configHash] of [
      [1, hash],
      [2, hash],
      [3, "b".repeat(64)],
    ] as const) {
      await s.client.sendControl({ type: "ping", id, configHash });
      expect(await nextControl(s.client)).toMatchObject({ type: "pong", id });
    }
    await s.client.sendControl({ type: "bye" });
    await s.served;
    expect(s.logs.map((l) => l.message)).toContain("session closed");
    expect(s.told).toEqual([
      `sessionOpened:${CLIENT_NAME}`,
      `track:${CLIENT_NAME}`,
      `configHash:${CLIENT_NAME},${hash}`,
      `configHash:${CLIENT_NAME},${"b".repeat(64)}`,
      `untrack:${CLIENT_NAME}`,
    ]);
  });

  test("a binary frame outside an upload is BAD_FRAME and ends the session", async () => {
    const { store } = await openStore();
    const s = await openServedSession(store);
    const archive = archiveOf("stray");
    await s.client.sendBinary(FrameType.SEALED_CHUNK, encodeChunkPayload({ index: 0, member: archive.members[0]! }));
    expect(await refusal(s.client)).toEqual({ code: "BAD_FRAME", message: "peer refused: binary frame outside an upload" });
    await s.served;
    expect((await s.client.receive(WAIT_MS).catch((e: HashRelayError) => e)) as HashRelayError).toMatchObject({ code: "CLOSED" });
  });

  test("commit without an upload is BAD_FRAME", async () => {
    const { store } = await openStore();
    const s = await openServedSession(store);
    await s.client.sendControl({ type: "commit", manifest: signedManifest(fileOf("etc"), archiveOf("etc"), T0) });
    expect(await refusal(s.client)).toEqual({ code: "BAD_FRAME", message: "peer refused: commit without an upload" });
    await s.served;
  });

  test("an offer of the latest archive's id is answered have with its signed receipt; another id opens an upload", async () => {
    const { store } = await openStore();
    const archive = archiveOf("etc");
    const { entry } = await uploadArchive(store, CLIENT_NAME, fileOf("etc"), archive);
    const s = await openServedSession(store);
    await s.client.sendControl({ type: "offer", name: "etc", archiveId: archive.archiveId });
    const have = await nextControl(s.client);
    expect(have.type).toBe("have");
    const receipt = verifyDocument((have as { receipt: SignedDoc }).receipt, SERVER_IDENTITY.publicKey, "receipt");
    expect(receipt).toMatchObject({ client: CLIENT_NAME, name: "etc", file: entry.file, archiveId: archive.archiveId, size: entry.size });
    // back in idle: a second offer is not "during an upload"
    await s.client.sendControl({ type: "offer", name: "etc", archiveId: "0".repeat(64) });
    expect(await nextControl(s.client)).toEqual({ type: "send-manifest", stream: true });
    // no archive payload travelled: two handshake frames each way, welcome, then control frames only
    expect(s.frames.filter((f) => f.type !== FrameType.SEALED_CONTROL).map((f) => f.type)).toEqual([
      FrameType.HELLO,
      FrameType.HELLO,
      FrameType.AUTH,
      FrameType.AUTH,
    ]);
  });

  test("list sends this client's archives; fetch sends the manifest and members of one", async () => {
    const { store } = await openStore();
    const archive = archiveOf("www", 2);
    const { entry } = await uploadArchive(store, CLIENT_NAME, fileOf("www"), archive);
    const s = await openServedSession(store);
    await s.client.sendControl({ type: "list" });
    expect(await nextControl(s.client)).toEqual({
      type: "listing",
      archives: [
        {
          name: "www",
          file: entry.file,
          size: entry.size,
          archiveId: archive.archiveId,
          piecesSha256: entry.piecesSha256,
          storedAt: entry.storedAt,
        },
      ],
      more: false,
    });
    await s.client.sendControl({ type: "fetch", name: "www", file: entry.file });
    const fetching = await nextControl(s.client);
    expect(fetching).toMatchObject({ type: "fetching", file: entry.file, size: entry.size, chunks: 2 });
    // stored without a signed record: no manifest, and a receipt signed on demand
    expect(fetching).not.toHaveProperty("manifest");
    const receipt = verifyDocument((fetching as { receipt: SignedDoc }).receipt, SERVER_IDENTITY.publicKey, "receipt");
    expect(receipt).toMatchObject({ client: CLIENT_NAME, name: "www", file: entry.file, archiveId: archive.archiveId });
    await s.client.expectBinary(FrameType.SEALED_MANIFEST, WAIT_MS);
    for (const member of archive.members)
      expect((await s.client.expectBinary(FrameType.SEALED_CHUNK, WAIT_MS)).subarray(4)).toEqual(member);
    await s.client.sendControl({ type: "ping", id: 9 });
    expect(await nextControl(s.client)).toMatchObject({ type: "pong", id: 9 });
  });
});

describe("server session, uploading", () => {
  test("offer, page, chunks, commit: a receipt, the archive stored, and the session idle again", async () => {
    const { store } = await openStore();
    const archive = archiveOf("etc");
    const file = fileOf("etc");
    const s = await openServedSession(store);
    const needed = await startUpload(s.client, "etc", archive);
    expect(needed).toEqual([0, 1, 2]);
    await sendChunks(s.client, archive, needed);
    await s.client.sendControl({ type: "commit", manifest: signedManifest(file, archive, T0) });
    const answer = await nextControl(s.client);
    expect(answer.type).toBe("receipt");
    const receipt = verifyDocument((answer as { receipt: SignedDoc }).receipt, SERVER_IDENTITY.publicKey, "receipt");
    expect(receipt).toMatchObject({ client: CLIENT_NAME, name: "etc", file, archiveId: archive.archiveId });
    expect(store.latest(CLIENT_NAME, "etc")?.archiveId).toBe(archive.archiveId);
    expect(s.told).toContain(`manifestPage:${CLIENT_NAME},3,3`);
    expect(s.told).toContain(`archiveStored:${CLIENT_NAME},${file}`);
    // idle again: list is allowed
    await s.client.sendControl({ type: "list", name: "etc" });
    expect(await nextControl(s.client)).toMatchObject({ type: "listing", more: false });
  });

  test("an offer during an upload is BAD_FRAME, and the upload is given up", async () => {
    const { store } = await openStore();
    const s = await openServedSession(store);
    await startUpload(s.client, "etc", archiveOf("etc"));
    await s.client.sendControl({ type: "offer", name: "www" });
    expect(await refusal(s.client)).toEqual({ code: "BAD_FRAME", message: "peer refused: offer during an upload" });
    await s.served;
    // aborted: a new upload of the same name is not BUSY
    await store.beginUpload(CLIENT_NAME, "etc").abort();
  });

  test("bye during an upload gives the upload up: the next offer of that name is not BUSY", async () => {
    const { store } = await openStore();
    const s = await openServedSession(store);
    await startUpload(s.client, "etc", archiveOf("etc"));
    await s.client.sendControl({ type: "bye" });
    await s.served;
    await store.beginUpload(CLIENT_NAME, "etc").abort();
  });

  test("no room: an offer over the client's quota is refused QUOTA before send-manifest; a chunk past minFree ends the upload NO_SPACE", async () => {
    const { store } = await openStore();
    store.setSpaceRules({ minFreeBytes: 0, quotas: new Map([[CLIENT_NAME, 0]]) });
    const s = await openServedSession(store);
    await s.client.sendControl({ type: "offer", name: "etc" });
    const quota = await refusal(s.client);
    expect(quota.code).toBe("QUOTA");
    expect(quota.message).toStartWith(`peer refused: ${CLIENT_NAME} uses 0 B of its 0 B quota`);
    await s.served;

    store.setSpaceRules({ minFreeBytes: 0, quotas: new Map() });
    const t = await openServedSession(store);
    const archive = archiveOf("etc");
    const needed = await startUpload(t.client, "etc", archive);
    store.setSpaceRules({ minFreeBytes: Number.MAX_SAFE_INTEGER, quotas: new Map() }); // the disk is down to its reserve
    // the refusal comes at the next chunk or at commit, whichever the server reads first after the write
    await sendChunks(t.client, archive, needed)
      .then(() => t.client.sendControl({ type: "commit", manifest: signedManifest(fileOf("etc"), archive, T0) }))
      .catch(() => undefined);
    const full = await refusal(t.client);
    expect(full.code).toBe("NO_SPACE");
    expect(full.message).toContain("(server.minFree): chunks of etc needs");
    await t.served;
    expect(store.latest(CLIENT_NAME, "etc")).toBeUndefined();
    await store.beginUpload(CLIENT_NAME, "etc").abort(); // given up: the name is free again
  });

  for (const type of ["fetch", "prove", "list"] as const) {
    test(`${type} during an upload is refused`, async () => {
      const { store } = await openStore();
      const stored = archiveOf("www", 2);
      const { entry } = await uploadArchive(store, CLIENT_NAME, fileOf("www"), stored);
      const s = await openServedSession(store);
      await startUpload(s.client, "etc", archiveOf("etc"));
      const message: ControlMessage =
        type === "fetch"
          ? { type, name: "www", file: entry.file }
          : type === "prove"
            ? { type, name: "www", file: entry.file, items: [{ index: 0, nonce: "00".repeat(32) }] }
            : { type };
      await s.client.sendControl(message);
      expect(await refusal(s.client)).toEqual({ code: "BAD_FRAME", message: `peer refused: ${type} during an upload` });
      await s.served;
      await store.beginUpload(CLIENT_NAME, "etc").abort();
    });
  }

  test("a wire error never touches stored data", async () => {
    const { store, root } = await openStore();
    const old = archiveOf("etc");
    await uploadArchive(store, CLIENT_NAME, fileOf("etc"), old);
    const before = await storedData(store, root);
    const stranger = identityFor("not the client");
    type Wrong = (client: SecureSession, next: TestArchive, needed: number[]) => Promise<void>;
    const commitAfter =
      (chunks: (needed: number[]) => number[], file: string, signer = CLIENT_IDENTITY): Wrong =>
      async (client, next, needed) => {
        await sendChunks(client, next, chunks(needed));
        await client.sendControl({ type: "commit", manifest: signedManifest(file, next, T0, signer) });
      };
    const all = (needed: number[]) => needed;
    const wrongs: [string, Wrong, string][] = [
      [
        "a chunk that does not match its id",
        (c, next) => c.sendBinary(FrameType.SEALED_CHUNK, encodeChunkPayload({ index: 0, member: next.members[1]! })),
        "HASH_MISMATCH",
      ],
      [
        "a chunk not asked for",
        (c, next) => c.sendBinary(FrameType.SEALED_CHUNK, encodeChunkPayload({ index: 7, member: next.members[0]! })),
        "BAD_FRAME",
      ],
      ["a delta without an accepted base", (c) => c.sendBinary(FrameType.SEALED_CHUNK_DELTA, new Uint8Array(8)), "BAD_FRAME"],
      ["a manifest for another name", commitAfter(all, fileOf("www", 5)), "BAD_FRAME"],
      ["a manifest signed by another key", commitAfter(all, fileOf("etc", 5), stranger), "UNAUTHORIZED"],
      ["a commit with a chunk missing", commitAfter((needed) => needed.slice(1), fileOf("etc", 5)), "BAD_FRAME"],
    ];
    for (const [i, [what, wrong, code]] of wrongs.entries()) {
      // a fresh archive each time: chunks staged by an earlier attempt are not asked for again
      const next = archiveOf(`etc-next-${i}`);
      const s = await openServedSession(store);
      const needed = await startUpload(s.client, "etc", next);
      expect(needed).toEqual([0, 1, 2]);
      await wrong(s.client, next, needed);
      const refused = await refusal(s.client);
      expect({ what, code: refused.code }).toEqual({ what, code });
      // the peer learns nothing more than UNAUTHORIZED
      if (code === "UNAUTHORIZED") expect(refused.message).toBe("peer refused: unauthorized");
      await s.served;
      expect({ what, data: await storedData(store, root) }).toEqual({ what, data: before });
      expect(s.logs.some((l) => l.message.startsWith("session refused:"))).toBe(true);
    }
  });
});

describe("server session, proving", () => {
  test("prove answers from the bytes on disk; a member it cannot answer is logged with its error text", async () => {
    const { store } = await openStore();
    const archive = archiveOf("etc", 2);
    const { entry } = await uploadArchive(store, CLIENT_NAME, fileOf("etc"), archive);
    const s = await openServedSession(store);
    const nonce = "5a".repeat(32);
    await s.client.sendControl({
      type: "prove",
      name: "etc",
      file: entry.file,
      items: [
        { index: 1, nonce },
        { index: 9, nonce },
      ],
    });
    const expected = Buffer.from(proofAnswer(Buffer.from(nonce, "hex"), archive.raws[1]!)).toString("hex");
    expect(await nextControl(s.client)).toEqual({
      type: "proof",
      file: entry.file,
      answers: [
        { index: 1, hash: expected },
        { index: 9, error: "the archive has 2 members" },
      ],
    });
    const warning = s.logs.find((l) => l.level === "warn" && l.message.startsWith("verify of"));
    expect(warning?.fields).toMatchObject({ client: CLIENT_NAME, name: "etc", first: "the archive has 2 members" });
    // still serving while proving: a fetch of the chunk list, then another prove of the same archive
    await s.client.sendControl({ type: "fetch", name: "etc", file: entry.file, manifestOnly: true });
    expect(await nextControl(s.client)).toMatchObject({ type: "fetching", chunks: 2 });
    await s.client.expectBinary(FrameType.SEALED_MANIFEST, WAIT_MS);
    await s.client.sendControl({ type: "prove", name: "etc", file: entry.file, items: [{ index: 1, nonce }] });
    expect(await nextControl(s.client)).toEqual({ type: "proof", file: entry.file, answers: [{ index: 1, hash: expected }] });
    await s.client.sendControl({ type: "bye" });
    await s.served;
  });

  test("a prove of an archive the client does not hold ends the session", async () => {
    const { store } = await openStore();
    const s = await openServedSession(store);
    await s.client.sendControl({ type: "prove", name: "etc", file: fileOf("etc"), items: [{ index: 0, nonce: "00".repeat(32) }] });
    expect((await refusal(s.client)).code).toBe("BAD_FRAME");
    await s.served;
  });
});

describe("server session, authentication", () => {
  test("an unlisted key learns only UNAUTHORIZED; the log learns why", async () => {
    const { store, root } = await openStore();
    const before = await storedData(store, root);
    const served = serveOverMemory(store);
    const err = await openClientSession(served.clientEnd, identityFor("stranger"), SERVER_IDENTITY.publicKey).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "UNAUTHORIZED", message: "server refused the handshake: unauthorized" });
    await served.served;
    // refused at its HELLO: the plaintext ERROR is all the server sent (no HELLO, no signature, no sealed frame)
    expect(served.frames.filter((f) => f.from === "b").map((f) => f.type)).toEqual([FrameType.ERROR]);
    expect(served.told).toEqual(["handshakeRefused:UNAUTHORIZED"]);
    expect(served.logs.find((l) => l.level === "warn")?.message).toContain("unknown client key");
    expect(await storedData(store, root)).toEqual(before);
  });

  test("a session ended by a reload tells the client only UNAUTHORIZED", async () => {
    const { store } = await openStore();
    const s = await openServedSession(store);
    await startUpload(s.client, "etc", archiveOf("etc"));
    s.end("UNAUTHORIZED", "the client was removed from server.clients");
    expect(await refusal(s.client)).toEqual({ code: "UNAUTHORIZED", message: "peer refused: unauthorized" });
    await s.served;
    expect(s.logs.map((l) => l.message)).toContain("session ended: the client was removed from server.clients");
    await store.beginUpload(CLIENT_NAME, "etc").abort();
  });
});
