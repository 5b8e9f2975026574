// One whole v1 conversation as PROTOCOL.md tells it, through real byte streams cut at odd places.
import { expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { gunzipSync, gzipSync } from "node:zlib";
import { FrameType } from "./constants.ts";
import {
  decodeChunkPayload,
  decodeManifestPage,
  decodeNeed,
  encodeChunkPayload,
  encodeManifestPage,
  encodeNeed,
  manifestPages,
} from "./binary-frames.ts";
import { encodeFrame, FrameDecoder, type Frame } from "./frame-codec.ts";
import { ClientHandshake, ServerHandshake } from "./handshake.ts";
import { formatPublicKey } from "./identity.ts";
import { decodeControl, encodeControl, type ControlMessage } from "./messages.ts";
import { SealedChannel } from "./sealed-channel.ts";
import { signDocument, verifyDocument } from "./signed-document.ts";
import { identityFor, seededRandom } from "./test-fixtures.ts";

/** A one-way pipe: frames are encoded, concatenated and re-cut every 7 bytes before decoding. */
function pipe(frames: Frame[]): Frame[] {
  const bytes = Buffer.concat(frames.map((f) => encodeFrame(f.type, f.body)));
  const decoder = new FrameDecoder();
  const out: Frame[] = [];
  for (let at = 0; at < bytes.length; at += 7) out.push(...decoder.push(bytes.subarray(at, at + 7)));
  return out;
}

test("handshake, welcome, offer, manifest, need, chunks, commit, receipt, bye", () => {
  const serverId = identityFor("server");
  const clientId = identityFor("client web01");
  const client = new ClientHandshake({ identity: clientId, serverKey: serverId.publicKey, random: seededRandom("c") });
  const server = new ServerHandshake({
    identity: serverId,
    authorize: (key) => (formatPublicKey(key) === formatPublicKey(clientId.publicKey) ? "web01" : null),
    random: seededRandom("s"),
  });

  // Handshake.
  const toServer1 = pipe(client.start());
  const serverReply = pipe(toServer1.flatMap((f) => server.receive(f).send));
  let clientKeys;
  let toServer2: Frame[] = [];
  for (const f of serverReply) {
    const step = client.receive(f);
    toServer2 = toServer2.concat(step.send);
    clientKeys = step.session ?? clientKeys;
  }
  const serverKeys = pipe(toServer2).map((f) => server.receive(f).session).find(Boolean)!;
  const c = new SealedChannel(clientKeys!.sendKey, clientKeys!.recvKey);
  const s = new SealedChannel(serverKeys.sendKey, serverKeys.recvKey);
  const control = (ch: SealedChannel, msg: ControlMessage) => ch.seal(FrameType.SEALED_CONTROL, encodeControl(msg));
  const read = (ch: SealedChannel, frames: Frame[], from: "client" | "server") =>
    frames.map((f) => (f.type === FrameType.SEALED_CONTROL ? decodeControl(ch.open(f), from) : ch.open(f)));

  // Welcome: the server names the client.
  const [welcome] = read(c, pipe([control(s, { type: "welcome", client: serverKeys.clientName, serverTime: 1 })]), "server");
  expect(welcome).toEqual({ type: "welcome", client: "web01", serverTime: 1 });

  // The client's archive: 3 chunks, the server already holds chunk 1.
  const raws = ["alpha ".repeat(50), "beta ".repeat(70), "gamma ".repeat(30)].map((t) => Buffer.from(t));
  const members = raws.map((r) => new Uint8Array(gzipSync(r)));
  const entries = raws.map((r) => ({ id: new Uint8Array(createHash("sha256").update(r).digest()), rawLength: r.length }));
  const file = Buffer.concat(members);
  const archiveId = createHash("sha256").update("stands in for the archive module's canonical manifest hash").digest("hex");
  const manifest = signDocument(
    {
      v: 1,
      kind: "manifest",
      client: "web01",
      name: "www",
      file: "backup-www-05-04-03-2025-06-17.tar.gz",
      archiveId,
      chunks: entries.length,
      rawSize: raws.reduce((n, r) => n + r.length, 0),
      fileSize: file.length,
      fileSha256: createHash("sha256").update(file).digest("hex"),
      createdAt: "2025-06-17T03:04:05.000Z",
    },
    clientId,
  );
  const serverHas = new Set([Buffer.from(entries[1]!.id).toString("hex")]);

  const [offer] = read(s, pipe([control(c, { type: "offer", manifest })]), "client") as ControlMessage[];
  if (offer?.type !== "offer") throw new Error("expected offer");
  const offered = verifyDocument(offer.manifest, serverKeys.clientKey, "manifest");
  expect(offered.client).toBe(serverKeys.clientName);
  expect(read(c, pipe([control(s, { type: "send-manifest" })]), "server")).toEqual([{ type: "send-manifest" }]);

  // One page, one need, the needed chunks in order.
  const received: Uint8Array[] = [];
  for (const page of manifestPages(entries)) {
    const [pageBytes] = read(s, pipe([c.seal(FrameType.SEALED_MANIFEST, encodeManifestPage(page))]), "client");
    const got = decodeManifestPage(pageBytes as Uint8Array);
    const needed = got.entries.flatMap((e, i) => (serverHas.has(Buffer.from(e.id).toString("hex")) ? [] : [got.firstIndex + i]));
    const [needBytes] = read(c, pipe([s.seal(FrameType.SEALED_NEED, encodeNeed({ firstIndex: got.firstIndex, count: got.entries.length, needed }))]), "server");
    const need = decodeNeed(needBytes as Uint8Array);
    expect(need.needed).toEqual([0, 2]);
    const chunkFrames = need.needed.map((i) => c.seal(FrameType.SEALED_CHUNK, encodeChunkPayload({ index: i, member: members[i]! })));
    for (const plain of read(s, pipe(chunkFrames), "client")) {
      const chunk = decodeChunkPayload(plain as Uint8Array);
      const raw = gunzipSync(chunk.member, { maxOutputLength: entries[chunk.index]!.rawLength });
      expect(createHash("sha256").update(raw).digest()).toEqual(Buffer.from(entries[chunk.index]!.id));
      received.push(chunk.member);
    }
  }
  expect(received.length).toBe(2);

  // Commit, receipt, bye.
  expect(read(s, pipe([control(c, { type: "commit" })]), "client")).toEqual([{ type: "commit" }]);
  const receipt = signDocument(
    {
      v: 1,
      kind: "receipt",
      client: "web01",
      name: "www",
      file: offered.file,
      archiveId: offered.archiveId,
      fileSha256: offered.fileSha256,
      size: offered.fileSize,
      storedAt: "2025-06-17T03:04:06.000Z",
    },
    serverId,
  );
  const [answer] = read(c, pipe([control(s, { type: "receipt", receipt })]), "server") as ControlMessage[];
  if (answer?.type !== "receipt") throw new Error("expected receipt");
  expect(verifyDocument(answer.receipt, serverId.publicKey, "receipt").archiveId).toBe(archiveId);
  expect(read(s, pipe([control(c, { type: "bye" })]), "client")).toEqual([{ type: "bye" }]);
});
