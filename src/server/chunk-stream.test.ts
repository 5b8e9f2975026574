// CHUNK_STREAM (PROTOCOL.md §8.10) on the server's real session code: stored as members it makes, and every way a stream can be wrong.
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { constants, zstdCompressSync } from "node:zlib";
import { archiveFileName } from "../archive/naming.ts";
import { HashRelayError } from "../errors.ts";
import { ChunkStreamWriter } from "../io/chunk-stream.ts";
import { decodeNeed, encodeManifestPage } from "../protocol/binary-frames.ts";
import { FrameType } from "../protocol/constants.ts";
import { openClientSession, type SecureSession } from "../session/secure-session.ts";
import { StreamGrants } from "./stream-grants.ts";
import { buildArchive, seededBytes, type TestArchive } from "../store/test-fixtures.ts";
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

const openStore = storesIn("hr-chunk-stream-");
const WAIT_MS = 5_000;
const T0 = Date.UTC(2026, 0, 10, 3, 0, 0);
/** Room for one streaming upload. */
const oneStream = () => new StreamGrants(1);
/** Text-like chunks that share most of their bytes: what a stream with context compresses well. */
const textChunk = (i: number) =>
  new TextEncoder().encode(Array.from({ length: 900 }, (_, k) => `line ${k} of a config, chunk ${i % 2}\n`).join(""));

/** offer → send-manifest (its `stream`) → one page → NEED. */
async function startUpload(client: SecureSession, archive: TestArchive): Promise<{ stream: boolean; needed: number[] }> {
  await client.sendControl({ type: "offer", name: "etc" });
  const answer = await nextControl(client);
  expect(answer.type).toBe("send-manifest");
  await client.sendBinary(FrameType.SEALED_MANIFEST, encodeManifestPage({ firstIndex: 0, entries: archive.entries }));
  const need = decodeNeed(await client.expectBinary(FrameType.SEALED_NEED, WAIT_MS));
  return { stream: (answer as { stream?: boolean }).stream === true, needed: need.needed };
}

const framed = (index: number, bytes: Uint8Array) => {
  const payload = new Uint8Array(4 + bytes.length);
  new DataView(payload.buffer).setUint32(0, index);
  payload.set(bytes, 4);
  return payload;
};

/** The server's refusal (the sealed error before it closes): its code. */
async function refusalCode(client: SecureSession): Promise<string> {
  const err = await client.receive(WAIT_MS).then(
    () => new Error("expected a refusal"),
    (e: unknown) => e,
  );
  if (!(err instanceof HashRelayError)) throw err;
  return err.code;
}

describe("a chunk stream", () => {
  test("granted while fewer uploads stream than the server has room for; one that streams holds its room to its end", async () => {
    const { store } = await openStore();
    const grants = oneStream();
    const first = await openServedSession(store, CLIENT_IDENTITY, SERVER_IDENTITY, grants);
    const archive = buildArchive([seededBytes("lan", 4096)]);
    expect((await startUpload(first.client, archive)).stream).toBe(true);
    // granted but not used yet: the room is still there
    expect(grants.room()).toBe(true);
    await first.client.sendBinary(FrameType.SEALED_CHUNK_STREAM, framed(0, await new ChunkStreamWriter().write(archive.raws[0]!)));
    await first.client.sendControl({ type: "commit", manifest: signedManifest(archiveFileName("etc", new Date(T0)), archive, T0) });
    expect(await nextControl(first.client)).toMatchObject({ type: "receipt" });
    expect(grants.room()).toBe(true);
    const full = new StreamGrants(0);
    const second = await openServedSession(store, CLIENT_IDENTITY, SERVER_IDENTITY, full);
    expect((await startUpload(second.client, buildArchive([seededBytes("lan2", 4096)]))).stream).toBe(false);
  });

  test("granted in a version-6 session: the server stores members of its own, whole with gzip, and the stream is smaller", async () => {
    const { store, root } = await openStore();
    const archive = buildArchive(Array.from({ length: 6 }, (_, i) => textChunk(i)));
    const s = await openServedSession(store, CLIENT_IDENTITY, SERVER_IDENTITY, oneStream());
    const { stream, needed } = await startUpload(s.client, archive);
    expect(stream).toBe(true);
    const writer = new ChunkStreamWriter();
    let streamBytes = 0;
    for (const index of needed) {
      const bytes = await writer.write(archive.raws[index]!);
      streamBytes += bytes.length;
      await s.client.sendBinary(FrameType.SEALED_CHUNK_STREAM, framed(index, bytes));
    }
    writer.close();
    const file = archiveFileName("etc", new Date(T0));
    await s.client.sendControl({ type: "commit", manifest: signedManifest(file, archive, T0) });
    expect(await nextControl(s.client)).toMatchObject({ type: "receipt" });
    // the members alone, each compressed without the others, are several times the stream
    expect(streamBytes * 3).toBeLessThan(archive.members.reduce((sum, m) => sum + m.length, 0));
    expect((await store.verifyArchive(CLIENT_NAME, file)).ok).toBe(true);
    const out = join(root, "out");
    mkdirSync(out);
    const gunzip = spawnSync("sh", ["-c", `gzip -dc '${join(root, CLIENT_NAME, file)}' > '${join(out, "raw")}'`]);
    expect(gunzip.status).toBe(0);
    expect(new Uint8Array(readFileSync(join(out, "raw")))).toEqual(new Uint8Array(Buffer.concat(archive.raws)));
  });

  test("bytes that decode to another chunk of the same length: HASH_MISMATCH, nothing stored", async () => {
    const { store } = await openStore();
    const archive = buildArchive([seededBytes("a", 8192), seededBytes("b", 8192)]);
    const s = await openServedSession(store, CLIENT_IDENTITY, SERVER_IDENTITY, oneStream());
    const { needed } = await startUpload(s.client, archive);
    const forged = await new ChunkStreamWriter().write(seededBytes("forged", 8192));
    await s.client.sendBinary(FrameType.SEALED_CHUNK_STREAM, framed(needed[0]!, forged));
    expect(await refusalCode(s.client)).toBe("HASH_MISMATCH");
    await s.served;
    expect(store.latest(CLIENT_NAME, "etc")).toBeUndefined();
  });

  test("corrupt stream bytes: BAD_FRAME; a stream decoding past the entry's length: TOO_LARGE (decoding stops there)", async () => {
    const archive = buildArchive([seededBytes("c", 4096)]);
    const corrupt = await openServedSession((await openStore()).store, CLIENT_IDENTITY, SERVER_IDENTITY, oneStream());
    await startUpload(corrupt.client, archive);
    await corrupt.client.sendBinary(FrameType.SEALED_CHUNK_STREAM, framed(0, new TextEncoder().encode("not a zstd stream at all")));
    expect(await refusalCode(corrupt.client)).toBe("BAD_FRAME");

    const bomb = await openServedSession((await openStore()).store, CLIENT_IDENTITY, SERVER_IDENTITY, oneStream());
    await startUpload(bomb.client, archive);
    // 64 MiB of zeros in a few KiB: the server must not decode it whole
    const zeros = zstdCompressSync(new Uint8Array(64 << 20), { params: { [constants.ZSTD_c_windowLog]: 20 } });
    await bomb.client.sendBinary(FrameType.SEALED_CHUNK_STREAM, framed(0, zeros));
    expect(await refusalCode(bomb.client)).toBe("TOO_LARGE");
  });

  test("not granted (a version-5 session): a CHUNK_STREAM frame is BAD_FRAME", async () => {
    const { store } = await openStore();
    const served = serveOverMemory(store, SERVER_IDENTITY, oneStream());
    const client = await openClientSession(served.clientEnd, CLIENT_IDENTITY, SERVER_IDENTITY.publicKey, { version: 5 });
    const archive = buildArchive([seededBytes("d", 4096)]);
    const { stream } = await startUpload(client, archive);
    expect(stream).toBe(false);
    const bytes = await new ChunkStreamWriter().write(archive.raws[0]!);
    await client.sendBinary(FrameType.SEALED_CHUNK_STREAM, framed(0, bytes));
    expect(await refusalCode(client)).toBe("BAD_FRAME");
  });
});
