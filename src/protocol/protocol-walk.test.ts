// Whole v1 conversations as PROTOCOL.md §10 tells them, through real byte streams cut at odd places.
import { describe, expect, test } from "bun:test";
import { createHash, type Hash } from "node:crypto";
import { gunzipSync, gzipSync } from "node:zlib";
import { archiveIdOf } from "../archive/manifest.ts";
import { HashRelayError } from "../errors.ts";
import { FrameType, MANIFEST_PAGE_ENTRIES, type FrameTypeValue } from "./constants.ts";
import {
  decodeChunkPayload,
  decodeManifestPage,
  decodeNeed,
  encodeChunkPayload,
  encodeManifestPage,
  encodeNeed,
  type ManifestEntry,
} from "./binary-frames.ts";
import { encodeFrame, FrameDecoder, type Frame } from "./frame-codec.ts";
import { ClientHandshake, ServerHandshake } from "./handshake.ts";
import { formatPublicKey, type Identity } from "./identity.ts";
import { decodeControl, encodeControl, type ControlMessage } from "./messages.ts";
import { SealedChannel } from "./sealed-channel.ts";
import { signDocument, verifyDocument, type ManifestBody, type ReceiptBody, type SignedDoc } from "./signed-document.ts";
import { identityFor, seededRandom } from "./test-fixtures.ts";

const serverId = identityFor("server");
const clientId = identityFor("client web01");

/** A plaintext on its way: a control message, or the bytes of a binary sealed frame. */
type Plain = ControlMessage | { frame: FrameTypeValue; bytes: Uint8Array };
/** A frame as the receiver reads it after opening and (for control) decoding. */
type Received = { type: number; bytes: Uint8Array; control?: ControlMessage };

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest();
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
/** §7.3 by the letter, for a file of `members` with no fillers: per member u64be 0, SHA-256(""), u64be M, SHA-256(member). */
const piecesDigest = (members: Uint8Array[]) => {
  const digest = createHash("sha256").update("hashrelay/1 pieces");
  const u64 = (n: number) => Buffer.from(new BigUint64Array([BigInt(n)]).buffer).reverse();
  for (const m of members)
    digest
      .update(u64(0))
      .update(sha256(new Uint8Array(0)))
      .update(u64(m.length))
      .update(sha256(m));
  return digest.digest("hex");
};
const u32 = (n: number) => {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(n);
  return out;
};

/** A one-way pipe: frames are encoded, concatenated and re-cut every 7 bytes before decoding. */
function pipe(frames: Frame[]): Frame[] {
  const bytes = Buffer.concat(frames.map((f) => encodeFrame(f.type, f.body)));
  const decoder = new FrameDecoder();
  const out: Frame[] = [];
  for (let at = 0; at < bytes.length; at += 7) out.push(...decoder.push(bytes.subarray(at, at + 7)));
  return out;
}

function seal(ch: SealedChannel, item: Plain): Frame {
  return "frame" in item ? ch.seal(item.frame, item.bytes) : ch.seal(FrameType.SEALED_CONTROL, encodeControl(item));
}

function open(ch: SealedChannel, frames: Frame[], from: "client" | "server"): Received[] {
  return frames.map((f) => {
    const bytes = ch.open(f);
    return f.type === FrameType.SEALED_CONTROL ? { type: f.type, bytes, control: decodeControl(bytes, from) } : { type: f.type, bytes };
  });
}

/** Handshake over pipes; returns both sealed channels and what the server learnt about the client. */
function connect(label: string) {
  const client = new ClientHandshake({ identity: clientId, serverKey: serverId.publicKey, random: seededRandom(`c ${label}`) });
  const server = new ServerHandshake({
    identity: serverId,
    authorize: (key) => (formatPublicKey(key) === formatPublicKey(clientId.publicKey) ? "web01" : null),
    random: seededRandom(`s ${label}`),
  });
  const serverReply = pipe(pipe(client.start()).flatMap((f) => server.receive(f).send));
  let clientKeys;
  let toServer: Frame[] = [];
  for (const f of serverReply) {
    const step = client.receive(f);
    toServer = toServer.concat(step.send);
    clientKeys = step.session ?? clientKeys;
  }
  const serverKeys = pipe(toServer)
    .map((f) => server.receive(f).session)
    .find(Boolean)!;
  return {
    c: new SealedChannel(clientKeys!.sendKey, clientKeys!.recvKey),
    s: new SealedChannel(serverKeys.sendKey, serverKeys.recvKey),
    clientName: serverKeys.clientName,
    clientKey: serverKeys.clientKey,
  };
}

interface StoredArchive {
  file: string;
  archiveId: string;
  bytes: Buffer;
  members: Uint8Array[];
  receipt: SignedDoc;
}

interface OpenUpload {
  name: string;
  entries: ManifestEntry[];
  /** SHA-256 over "HRM1" and the page entries as they arrived (§8.4); closed with u32 N at commit. */
  idHash: Hash;
  members: Map<number, Uint8Array>;
  asked: number[];
}

/** What the server keeps for one client across sessions: its chunks and the latest archive per name. */
class ServerStore {
  readonly latest = new Map<string, StoredArchive>();
  readonly held = new Map<string, Uint8Array>();
  stores = 0;
  lastManifest: ManifestBody | null = null;
}

/**
 * The server's side of §10 for one session, as a reference model over the real codecs: one upload
 * at a time, deduplication within this client's store. Throws HashRelayError as §10 says.
 */
class ServerModel {
  private upload: OpenUpload | null = null;
  private readonly latest: Map<string, StoredArchive>;
  private readonly held: Map<string, Uint8Array>;

  constructor(
    readonly store: ServerStore,
    readonly clientName: string,
    readonly clientKey: Uint8Array,
  ) {
    this.latest = store.latest;
    this.held = store.held;
  }

  receive(item: Received): Plain[] {
    const msg = item.control;
    if (!msg) return this.binary(item);
    switch (msg.type) {
      case "ping":
        return [{ type: "pong", id: msg.id, serverTime: 1 }];
      case "bye":
        return [];
      case "offer": {
        if (this.upload) throw new HashRelayError("BAD_FRAME", "offer during an upload");
        const latest = this.latest.get(msg.name);
        if (msg.archiveId !== undefined && latest?.archiveId === msg.archiveId) return [{ type: "have", receipt: latest.receipt }];
        const idHash = createHash("sha256").update("HRM1");
        this.upload = { name: msg.name, entries: [], idHash, members: new Map(), asked: [] };
        return [{ type: "send-manifest" }];
      }
      case "commit":
        return this.commit(msg.manifest);
      default:
        throw new HashRelayError("BAD_FRAME", `unexpected ${msg.type}`);
    }
  }

  private binary(item: Received): Plain[] {
    const up = this.upload;
    if (!up) throw new HashRelayError("BAD_FRAME", "binary frame outside an upload");
    if (item.type === FrameType.SEALED_MANIFEST) {
      if (up.asked.length > 0) throw new HashRelayError("BAD_FRAME", "page before the chunks of the previous one");
      const page = decodeManifestPage(item.bytes);
      if (page.firstIndex !== up.entries.length) throw new HashRelayError("BAD_FRAME", `page starts at ${page.firstIndex}`);
      up.idHash.update(item.bytes.subarray(4));
      const seen = new Set(up.entries.map((e) => hex(e.id)));
      const needed: number[] = [];
      page.entries.forEach((e, i) => {
        const id = hex(e.id);
        if (!this.held.has(id) && !seen.has(id)) needed.push(page.firstIndex + i);
        seen.add(id);
      });
      up.entries.push(...page.entries);
      up.asked = needed;
      return [{ frame: FrameType.SEALED_NEED, bytes: encodeNeed({ firstIndex: page.firstIndex, count: page.entries.length, needed }) }];
    }
    if (item.type === FrameType.SEALED_CHUNK) {
      const chunk = decodeChunkPayload(item.bytes);
      if (chunk.index !== up.asked[0]) throw new HashRelayError("BAD_FRAME", `chunk ${chunk.index} was not asked for next`);
      up.asked.shift();
      this.verify(chunk.index, chunk.member, up.entries[chunk.index]!);
      up.members.set(chunk.index, chunk.member.slice());
      return [];
    }
    throw new HashRelayError("BAD_FRAME", `frame type ${item.type} from the client`);
  }

  /** §8.3: bounded gunzip, exact length, SHA-256 equals the id. */
  private verify(index: number, member: Uint8Array, entry: ManifestEntry): void {
    let raw: Buffer;
    try {
      raw = gunzipSync(member, { maxOutputLength: entry.rawLength });
    } catch {
      throw new HashRelayError("HASH_MISMATCH", `chunk ${index} does not inflate to ${entry.rawLength} bytes`);
    }
    if (raw.length !== entry.rawLength || !sha256(raw).equals(Buffer.from(entry.id))) {
      throw new HashRelayError("HASH_MISMATCH", `chunk ${index} does not match its id`);
    }
  }

  /** §10 step 6, in the order PROTOCOL.md lists the checks. */
  private commit(doc: SignedDoc): Plain[] {
    const up = this.upload;
    if (!up) throw new HashRelayError("BAD_FRAME", "commit without an offer");
    this.upload = null;
    const m = verifyDocument(doc, this.clientKey, "manifest");
    this.store.lastManifest = m;
    if (m.client !== this.clientName) throw new HashRelayError("BAD_FRAME", `manifest of client ${m.client}`);
    if (m.name !== up.name) throw new HashRelayError("BAD_FRAME", `manifest of ${m.name}, offer of ${up.name}`);
    if (up.asked.length > 0) throw new HashRelayError("BAD_FRAME", `chunk ${up.asked[0]} never arrived`);
    if (m.chunks !== up.entries.length) throw new HashRelayError("BAD_FRAME", `${up.entries.length} of ${m.chunks} entries arrived`);
    const raw = up.entries.reduce((n, e) => n + e.rawLength, 0);
    if (m.rawSize !== raw) throw new HashRelayError("BAD_FRAME", `entries add up to ${raw} raw bytes, manifest says ${m.rawSize}`);
    if (up.idHash.update(u32(up.entries.length)).digest("hex") !== m.archiveId) {
      throw new HashRelayError("HASH_MISMATCH", "pages do not hash to archiveId");
    }
    const latest = this.latest.get(m.name);
    if (latest?.archiveId === m.archiveId) return [{ type: "have", receipt: latest.receipt }];

    const firstOf = new Map<string, number>();
    const members = up.entries.map((e, i) => {
      const id = hex(e.id);
      const first = firstOf.get(id) ?? i;
      firstOf.set(id, first);
      const member = up.members.get(first) ?? this.held.get(id)!;
      this.verify(i, member, e);
      return member;
    });
    const bytes = Buffer.concat(members);
    const receipt = signDocument(
      {
        v: 1,
        kind: "receipt",
        client: m.client,
        name: m.name,
        file: m.file,
        archiveId: m.archiveId,
        piecesSha256: piecesDigest(members),
        size: bytes.length,
        storedAt: "2025-06-17T03:04:06.000Z",
      },
      serverId,
    );
    up.entries.forEach((e, i) => this.held.set(hex(e.id), members[i]!));
    this.latest.set(m.name, { file: m.file, archiveId: m.archiveId, bytes, members, receipt });
    this.store.stores++;
    return [{ type: "receipt", receipt }];
  }
}

/** One session: the client's side talks to a ServerModel through sealed, re-cut byte streams. */
function session(label: string, store = new ServerStore()) {
  const link = connect(label);
  const model = new ServerModel(store, link.clientName, link.clientKey);
  // Welcome: the server names the client.
  const [welcome] = open(link.c, pipe([seal(link.s, { type: "welcome", client: link.clientName, serverTime: 1 })]), "server");
  expect(welcome!.control).toEqual({ type: "welcome", client: "web01", serverTime: 1 });
  let clientFrames = 0;
  /** Sends client items; returns what the server answered, as the client reads it. */
  const send = (items: Plain[]): Received[] => {
    clientFrames += items.length;
    const answers = open(link.s, pipe(items.map((i) => seal(link.c, i))), "client").flatMap((r) => model.receive(r));
    return open(link.c, pipe(answers.map((a) => seal(link.s, a))), "server");
  };
  return {
    server: store,
    send,
    sealRaw: (type: FrameTypeValue, bytes: Uint8Array) => pipe([link.c.seal(type, bytes)]),
    link,
    frames: () => clientFrames,
  };
}

interface Backup {
  name: string;
  file: string;
  raws: Buffer[];
  /** The archive id claimed in the offer (the tree fingerprint matched the last backup). */
  claim?: string;
  level?: 0 | 9;
  /** Member bytes held before a page is sent (the client's PAGE_WINDOW_BYTES, 8 MiB). */
  window?: number;
  /** Lets a test spoil the manifest before it is signed. */
  tamper?: (m: ManifestBody) => ManifestBody;
  signer?: Identity;
}

/**
 * The client's side of §10 for one source: offer, then (on send-manifest) one streaming pass that
 * flushes a page when its members reach the window or MANIFEST_PAGE_ENTRIES entries, commit with the manifest signed at the end, and the
 * receipt checks of §7.2. Returns the answer and what travelled.
 */
function backup(run: ReturnType<typeof session>, b: Backup) {
  const offer: ControlMessage = b.claim ? { type: "offer", name: b.name, archiveId: b.claim } : { type: "offer", name: b.name };
  const [answer, ...rest] = run.send([offer]);
  expect(rest).toEqual([]);
  const sent = { pages: 0, chunks: 0, bytes: 0 };
  let archiveId = b.claim;
  let final = answer!.control!;
  if (final.type === "send-manifest") {
    const idHash = createHash("sha256").update("HRM1");
    const fileHash = createHash("sha256");
    let fileSize = 0;
    let rawSize = 0;
    let page: { entries: ManifestEntry[]; members: Uint8Array[]; bytes: number } = { entries: [], members: [], bytes: 0 };
    let first = 0;
    const flush = () => {
      if (page.entries.length === 0) return;
      const [needFrame] = run.send([
        { frame: FrameType.SEALED_MANIFEST, bytes: encodeManifestPage({ firstIndex: first, entries: page.entries }) },
      ]);
      sent.pages++;
      expect(needFrame!.type).toBe(FrameType.SEALED_NEED);
      const need = decodeNeed(needFrame!.bytes);
      expect([need.firstIndex, need.count]).toEqual([first, page.entries.length]);
      const chunks = need.needed.map(
        (i): Plain => ({ frame: FrameType.SEALED_CHUNK, bytes: encodeChunkPayload({ index: i, member: page.members[i - first]! }) }),
      );
      expect(run.send(chunks)).toEqual([]);
      sent.chunks += chunks.length;
      sent.bytes += need.needed.reduce((n, i) => n + page.members[i - first]!.length, 0);
      first += page.entries.length;
      page = { entries: [], members: [], bytes: 0 };
    };
    for (const raw of b.raws) {
      const entry = { id: new Uint8Array(sha256(raw)), rawLength: raw.length };
      const member = new Uint8Array(gzipSync(raw, { level: b.level ?? 9 }));
      idHash.update(entry.id).update(u32(entry.rawLength));
      fileHash.update(member);
      fileSize += member.length;
      rawSize += raw.length;
      page.entries.push(entry);
      page.members.push(member);
      page.bytes += member.length;
      if (page.bytes >= (b.window ?? 8 * 1024 * 1024) || page.entries.length >= MANIFEST_PAGE_ENTRIES) flush();
    }
    flush();
    archiveId = idHash.update(u32(b.raws.length)).digest("hex");
    const body: ManifestBody = {
      v: 1,
      kind: "manifest",
      client: "web01",
      name: b.name,
      file: b.file,
      archiveId,
      chunks: b.raws.length,
      rawSize,
      fileSize,
      fileSha256: fileHash.digest("hex"),
      createdAt: "2025-06-17T03:04:05.000Z",
    };
    const [done] = run.send([{ type: "commit", manifest: signDocument(b.tamper ? b.tamper(body) : body, b.signer ?? clientId) }]);
    final = done!.control!;
  }
  if (final.type !== "have" && final.type !== "receipt") throw new Error(`unexpected answer ${final.type}`);
  // §7.2: pinned server key; client, name and archive id as offered; file an archive of this name.
  const receipt = verifyDocument(final.receipt, serverId.publicKey, "receipt");
  expect([receipt.client, receipt.name, receipt.archiveId]).toEqual(["web01", b.name, archiveId!]);
  return { answer: final.type, receipt, archiveId: archiveId!, sent };
}

const text = (words: string[], repeat: number) => words.map((w) => Buffer.from(`${w} `.repeat(repeat)));
const www = text(["alpha", "beta", "gamma", "beta"], 60);
const etc = text(["beta", "delta"], 60);

describe("the conversation of PROTOCOL.md §10", () => {
  test("first backup: offer without archiveId, short pages back to back, only the missing chunks, commit carries the manifest, receipt", () => {
    const run = session("first");
    // An earlier archive of another name holds "beta", as an older compressor wrote it (stored blocks).
    const before = backup(run, { name: "etc", file: "backup-etc-00-00-03-2025-06-16.tar.gz", raws: etc, level: 0 });
    expect(before.answer).toBe("receipt");
    expect(before.sent.chunks).toBe(2);

    // A window of 2 members per page: pages [alpha, beta] at 0 and [gamma, beta] at 2.
    const window = gzipSync(www[0]!, { level: 9 }).length + 1;
    const result = backup(run, { name: "www", file: "backup-www-05-04-03-2025-06-17.tar.gz", raws: www, window });
    expect(result.answer).toBe("receipt");
    // "beta" is held, and its repeat is not asked twice: only alpha and gamma travel.
    expect(result.sent).toMatchObject({ pages: 2, chunks: 2 });
    expect(result.archiveId).toBe(archiveIdOf(www.map((r) => ({ id: new Uint8Array(sha256(r)), rawLength: r.length }))));

    // The stored file reuses the older member: the client's own figures differ from the receipt's,
    // and the receipt tells the truth about the stored bytes.
    const stored = run.server.latest.get("www")!;
    const manifest = run.server.lastManifest!;
    expect(result.receipt.file).toBe("backup-www-05-04-03-2025-06-17.tar.gz");
    expect(result.receipt.size).toBe(stored.bytes.length);
    expect(result.receipt.piecesSha256).toBe(piecesDigest(stored.members));
    expect(manifest.fileSize).not.toBe(result.receipt.size);
    expect(manifest.fileSha256).not.toBe(hex(sha256(stored.bytes)));
    expect(gunzipSync(stored.bytes)).toEqual(Buffer.concat(www));

    // Probe again after the tick's uploads, then bye.
    expect(run.send([{ type: "ping", id: 9 }]).map((r) => r.control)).toEqual([{ type: "pong", id: 9, serverTime: 1 }]);
    expect(run.send([{ type: "bye" }])).toEqual([]);
  });

  test("unchanged tree: offer with the last archive id gets have and its receipt; no page, no chunk travels", () => {
    const server = (() => {
      const run = session("seed");
      backup(run, { name: "www", file: "backup-www-05-04-03-2025-06-17.tar.gz", raws: www });
      return run.server;
    })();
    const stored = server.latest.get("www")!;
    const run = session("again", server);
    const result = backup(run, { name: "www", file: "backup-www-05-04-03-2025-06-18.tar.gz", raws: www, claim: stored.archiveId });
    expect(result.answer).toBe("have");
    expect(result.receipt.file).toBe("backup-www-05-04-03-2025-06-17.tar.gz");
    expect(result.sent).toEqual({ pages: 0, chunks: 0, bytes: 0 });
    expect(run.frames()).toBe(1);
    expect(server.stores).toBe(1);
  });

  test("a claim the server cannot honour gets send-manifest: unknown id, another name's id, an older archive's id", () => {
    const run = session("claims");
    const etcId = backup(run, { name: "etc", file: "backup-etc-00-00-03-2025-06-16.tar.gz", raws: etc }).archiveId;
    const oldId = backup(run, { name: "www", file: "backup-www-00-00-03-2025-06-16.tar.gz", raws: www }).archiveId;
    backup(run, { name: "www", file: "backup-www-00-00-03-2025-06-17.tar.gz", raws: [...www, Buffer.from("new file")] });
    for (const archiveId of ["0".repeat(64), etcId, oldId]) {
      // Each on its own session: an upload, once started, is abandoned only by closing the connection.
      const fresh = session(`claim ${archiveId}`, run.server);
      expect(fresh.send([{ type: "offer", name: "www", archiveId }]).map((r) => r.control)).toEqual([{ type: "send-manifest" }]);
    }
  });

  test("tree touched, content identical: the full pass ends in have with the stored receipt, nothing new stored", () => {
    const run = session("touched");
    const first = backup(run, { name: "www", file: "backup-www-05-04-03-2025-06-17.tar.gz", raws: www });
    const again = backup(run, { name: "www", file: "backup-www-05-04-03-2025-06-18.tar.gz", raws: www });
    expect(again.answer).toBe("have");
    expect(again.sent).toMatchObject({ pages: 1, chunks: 0 });
    expect(again.receipt).toEqual(first.receipt);
    expect(run.server.stores).toBe(1);
    expect(run.server.latest.get("www")!.file).toBe("backup-www-05-04-03-2025-06-17.tar.gz");
  });
});

describe("commit refusals (§10 step 6)", () => {
  const file = "backup-www-05-04-03-2025-06-17.tar.gz";
  const cases: [string, Partial<Backup>, HashRelayError["code"], string][] = [
    ["manifest signed by another key", { signer: identityFor("intruder") }, "UNAUTHORIZED", "signed by"],
    ["manifest of another client", { tamper: (m) => ({ ...m, client: "web02" }) }, "BAD_FRAME", "client web02"],
    [
      "manifest of another name than the offer",
      { tamper: (m) => ({ ...m, name: "etc", file: "backup-etc-05-04-03-2025-06-17.tar.gz" }) },
      "BAD_FRAME",
      "offer of www",
    ],
    ["chunk count not the number of entries", { tamper: (m) => ({ ...m, chunks: m.chunks + 1 }) }, "BAD_FRAME", "entries arrived"],
    ["rawSize not the sum of raw lengths", { tamper: (m) => ({ ...m, rawSize: m.rawSize - 1 }) }, "BAD_FRAME", "raw bytes"],
    ["pages do not hash to archiveId", { tamper: (m) => ({ ...m, archiveId: "f".repeat(64) }) }, "HASH_MISMATCH", "archiveId"],
  ];
  for (const [what, spoil, code, words] of cases) {
    test(what, () => {
      const run = session(what);
      let err: unknown;
      try {
        backup(run, { name: "www", file, raws: www, ...spoil });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(HashRelayError);
      expect((err as HashRelayError).code).toBe(code);
      expect((err as HashRelayError).message).toContain(words);
      expect(run.server.stores).toBe(0);
    });
  }

  test("a commit without a manifest is BAD_FRAME before the server looks at its state", () => {
    const run = session("bare commit");
    expect(run.send([{ type: "offer", name: "www" }])[0]!.control).toEqual({ type: "send-manifest" });
    const frames = run.sealRaw(FrameType.SEALED_CONTROL, new TextEncoder().encode('{"type":"commit"}'));
    expect(() => open(run.link.s, frames, "client")).toThrow("bad commit message: / must have required property 'manifest'");
  });

  test("a commit before any offer is BAD_FRAME", () => {
    const run = session("early commit");
    const manifest = signDocument(
      {
        v: 1,
        kind: "manifest",
        client: "web01",
        name: "www",
        file,
        archiveId: "a".repeat(64),
        chunks: 1,
        rawSize: 1,
        fileSize: 20,
        fileSha256: "b".repeat(64),
        createdAt: "2025-06-17T03:04:05.000Z",
      },
      clientId,
    );
    expect(() => run.send([{ type: "commit", manifest }])).toThrow("commit without an offer");
  });
});
