// backupSource against the server's real session code and store, over an in-memory connection: the one-page-ahead order and the archive stored.
import { afterEach, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { createCipheriv, createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { batchIndexes } from "../../archive/delta-batch.ts";
import { decodeDiffPage } from "../../archive/manifest-diff-page.ts";
import { decodeManifestPage, decodeNeed } from "../../protocol/binary-frames.ts";
import { FrameType, PIPELINED_VERSION } from "../../protocol/constants.ts";
import { backupWorld, WORLD_CLIENT } from "../../testing/backup-world.ts";
import type { TracedFrame } from "../../testing/session-trace.ts";
import type { ControlMessage } from "../../protocol/messages.ts";
import { PAGE_WINDOW_BYTES } from "./page-builder.ts";

const MiB = 1024 * 1024;
const CLIENT = WORLD_CLIENT;

const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

/** `length` pseudo-random (incompressible) bytes fixed by `seed`: AES-256-CTR over zeros. */
function seeded(seed: string, length: number): Buffer {
  const key = createHash("sha256").update(seed).digest();
  return createCipheriv("aes-256-ctr", key, Buffer.alloc(16)).update(Buffer.alloc(length));
}

/** A change in every 16 KiB: every chunk's id changes, most of its blocks stay (a delta carries it). */
function sprinkled(bytes: Buffer): Buffer {
  const out = Buffer.from(bytes);
  for (let at = 0; at < out.length; at += 16 * 1024) out[at] = out[at]! ^ 0xff;
  return out;
}

/** What the client did on the wire during one upload, in its order: pages offered, NEEDs read, chunks sent. */
type WireEvent =
  | { kind: "offer"; first: number; count: number }
  | { kind: "need"; first: number; count: number; needed: number[] }
  | { kind: "chunk"; index: number; delta: boolean };

function wireEvents(frames: readonly TracedFrame[]): WireEvent[] {
  const events: WireEvent[] = [];
  for (const frame of frames) {
    if (frame.kind !== "binary") continue;
    const { type, payload } = frame;
    const index = new DataView(payload.buffer, payload.byteOffset, payload.length).getUint32(0);
    if (type === FrameType.SEALED_MANIFEST) {
      events.push({ kind: "offer", first: index, count: decodeManifestPage(payload).entries.length });
    } else if (type === FrameType.SEALED_MANIFEST_DIFF) {
      events.push({ kind: "offer", first: index, count: decodeDiffPage(payload, true).count });
    } else if (type === FrameType.SEALED_NEED) {
      const need = decodeNeed(payload);
      events.push({ kind: "need", first: need.firstIndex, count: need.count, needed: need.needed });
    } else if (type === FrameType.SEALED_CHUNK || type === FrameType.SEALED_CHUNK_DELTA || type === FrameType.SEALED_CONTEXT_DELTA) {
      events.push({ kind: "chunk", index, delta: type !== FrameType.SEALED_CHUNK });
    } else if (type === FrameType.SEALED_DELTA_BATCH) {
      for (const batched of batchIndexes(payload).indexes) events.push({ kind: "chunk", index: batched, delta: true });
    }
  }
  return events;
}

/**
 * Asserts PROTOCOL.md §10 steps 4 and 5 on one upload's events: pages back to back; chunks in
 * ascending index order, exactly those asked for, so no chunk of page k+1 before the last of page k;
 * page k+1 offered only after NEED k was read (before version 5: `version`), and page k+2 only after
 * page k's chunks are all out. Returns the pages with, per page, where its offer, its NEED and its
 * chunks stand in `events`.
 */
function expectOnePageAhead(events: readonly WireEvent[], version: number) {
  const pages = events.flatMap((e, at) => (e.kind === "offer" ? [{ ...e, offerAt: at, needAt: -1, chunksAt: [] as number[] }] : []));
  pages.forEach((page, k) => expect(page.first).toBe(k === 0 ? 0 : pages[k - 1]!.first + pages[k - 1]!.count));
  const pageOf = (index: number) => pages.findIndex((p) => index >= p.first && index < p.first + p.count);
  const asked: number[] = [];
  const sent: number[] = [];
  events.forEach((e, at) => {
    if (e.kind === "need") {
      const page = pages[pageOf(e.first)]!;
      expect([e.first, e.count]).toEqual([page.first, page.count]);
      page.needAt = at;
      asked.push(...e.needed);
    } else if (e.kind === "chunk") {
      sent.push(e.index);
      pages[pageOf(e.index)]!.chunksAt.push(at);
    }
  });
  expect(sent).toEqual(asked);
  for (let i = 1; i < sent.length; i++) expect(sent[i]!).toBeGreaterThan(sent[i - 1]!);
  pages.forEach((page, k) => {
    if (k >= 1 && version < PIPELINED_VERSION) expect(page.offerAt).toBeGreaterThan(pages[k - 1]!.needAt);
    for (const before of k >= 2 ? pages[k - 2]!.chunksAt : []) expect(page.offerAt).toBeGreaterThan(before);
  });
  return pages;
}

/** backupWorld, with backup() returning the upload's wire events. */
async function world() {
  const w = await backupWorld(roots);
  return {
    ...w,
    backup: async () => {
      const { result, frames } = await w.backup();
      return { result, events: wireEvents(frames) };
    },
  };
}

/**
 * backupWorld whose client holds the server's `send-manifest` back until the upload has cut a chunk of the
 * source (at most `holdMs`), and may rewrite it (`answer`). `cutEarly`: whether a chunk was cut before the
 * answer was read; `sentEarly`: binary frames the client sent before it read the answer.
 */
async function heldAnswerWorld(answer: (m: SendManifest) => SendManifest = (m) => m, holdMs = 10_000) {
  let hashed = 0;
  let cut: () => void = () => undefined;
  const w = await backupWorld(roots, {}, (p) => {
    hashed = p.bytesHashed;
    if (hashed > 0) cut();
  });
  const probe = { cutEarly: false, sentEarly: 0, answered: true };
  const receive = w.session.receive.bind(w.session);
  w.session.receive = async (timeoutMs) => {
    const incoming = await receive(timeoutMs);
    if (incoming.kind !== "control" || incoming.message.type !== "send-manifest") return incoming;
    const held = new Promise<void>((resolve) => {
      cut = resolve;
      if (hashed > 0) resolve();
    });
    const guard = new Promise<void>((resolve) => setTimeout(resolve, holdMs));
    await Promise.race([held, guard]);
    probe.cutEarly = hashed > 0;
    probe.answered = true;
    return { kind: "control", message: answer(incoming.message) };
  };
  const sendBinary = w.session.sendBinary.bind(w.session);
  w.session.sendBinary = (type, payload) => {
    if (!probe.answered) probe.sentEarly++;
    return sendBinary(type, payload);
  };
  const sendControl = w.session.sendControl.bind(w.session);
  w.session.sendControl = (message) => {
    if (message.type === "offer") (probe.answered = false), (hashed = 0);
    return sendControl(message);
  };
  return { ...w, probe };
}

type SendManifest = Extract<ControlMessage, { type: "send-manifest" }>;

/** Restores the stored archive with tar and compares every file with the source's. */
function expectRestores(root: string, archive: string, files: Record<string, Buffer>) {
  const out = join(root, `restored-${archive}`);
  mkdirSync(out);
  const tar = spawnSync("tar", ["-xzf", join(root, "storage", CLIENT, archive), "-C", out], { encoding: "utf8" });
  expect(tar.stderr).toBe("");
  expect(tar.status).toBe(0);
  for (const [name, bytes] of Object.entries(files)) expect(readFileSync(join(out, "data", name)).equals(bytes)).toBe(true);
}

describe("backupSource against the server's session", () => {
  test("pages go one ahead of their chunks, chunks in index order, and the stored archive restores the source", async () => {
    const w = await world();
    // 17.5 MiB: three pages on the first backup (a page goes out at PAGE_WINDOW_BYTES of held chunks).
    expect(PAGE_WINDOW_BYTES).toBe(8 * MiB);
    const files = { "a.bin": seeded("a", 7.5 * MiB), "b.bin": seeded("b", 4 * MiB), "c.bin": seeded("c", 6 * MiB) };
    for (const [name, bytes] of Object.entries(files)) writeFileSync(join(w.source.path, name), bytes);

    const first = await w.backup();
    expect(first.result).toMatchObject({ status: "sent" });
    const firstPages = expectOnePageAhead(first.events, w.session.version);
    expect(firstPages.length).toBeGreaterThanOrEqual(3);
    // One page ahead: page 1 is offered before page 0's first chunk goes (its NEED is answered meanwhile).
    expect(firstPages[1]!.offerAt).toBeLessThan(firstPages[0]!.chunksAt[0]!);
    expect(w.store.latest(CLIENT, "data")?.file).toBe(first.result.archive!);
    expectRestores(w.root, first.result.archive!, files);

    // a.bin all new (whole chunks, compressed on the worker threads), b.bin changed in every chunk
    // (deltas, made at once), c.bin as it was (not read again). Page 0 fills with a.bin and the start
    // of b.bin; page 1 holds the rest, whose deltas are ready while page 0's whole chunks are still
    // being compressed: only the rule that a page's chunks wait for the page before it keeps them
    // from going first.
    files["a.bin"] = seeded("a2", 7.5 * MiB);
    files["b.bin"] = sprinkled(files["b.bin"]);
    for (const name of ["a.bin", "b.bin"]) writeFileSync(join(w.source.path, name), files[name as keyof typeof files]);
    const second = await w.backup();
    expect(second.result).toMatchObject({ status: "sent" });
    const pages = expectOnePageAhead(second.events, w.session.version);
    expect(pages.length).toBeGreaterThanOrEqual(2);
    const isDelta = (at: number) => (second.events[at] as Extract<WireEvent, { kind: "chunk" }>).delta;
    expect(pages[0]!.chunksAt.filter((at) => !isDelta(at)).length).toBeGreaterThan(50);
    expect(pages[1]!.chunksAt.length).toBeGreaterThan(0);
    expect(pages[1]!.chunksAt.every(isDelta)).toBe(true);
    expect(pages[1]!.offerAt).toBeLessThan(pages[0]!.chunksAt[0]!);
    expect(w.store.latest(CLIENT, "data")?.file).toBe(second.result.archive!);
    expectRestores(w.root, second.result.archive!, files);

    await w.close();
    expect(w.logs.filter((line) => line.startsWith("error"))).toEqual([]);
  }, 120_000);

  test("a file whose mtime alone moved costs tens of bytes: its header's old bytes are copied", async () => {
    const w = await world();
    const line = (i: number) => `option.${i} = ${(i * 7919) % 10007} # ${"abcdefghij".repeat(1 + (i % 5))}\n`;
    const files: Record<string, Buffer> = {};
    for (const name of ["a.conf", "b.conf", "c.conf"])
      files[name] = Buffer.from(Array.from({ length: 1500 }, (_, i) => line(i + name.charCodeAt(0) * 1000)).join(""));
    for (const [name, bytes] of Object.entries(files)) writeFileSync(join(w.source.path, name), bytes);
    expect((await w.backup()).result).toMatchObject({ status: "sent" });
    utimesSync(join(w.source.path, "b.conf"), 1_700_000_000, 1_700_000_000);
    const touched = await w.backup();
    expect(touched.result).toMatchObject({ status: "sent", chunksSent: 1 });
    expect(touched.events.filter((e) => e.kind === "chunk")).toEqual([{ kind: "chunk", index: expect.any(Number), delta: true }]);
    // the delta body: copies and the 20 bytes of mtime and checksum (a 1 KiB block around the header before)
    expect(touched.result.bytesSent).toBeLessThan(100);
    expectRestores(w.root, touched.result.archive!, files);
    await w.close();
    expect(w.logs.filter((l) => l.startsWith("error"))).toEqual([]);
  }, 60_000);

  // ~1 s each: a 1 MiB source backed up twice.
  test("a changed source is read while its offer is answered, and nothing goes out before the answer", async () => {
    const w = await heldAnswerWorld();
    const files = { "a.bin": seeded("early-a", MiB) };
    writeFileSync(join(w.source.path, "a.bin"), files["a.bin"]);
    const first = await w.backup();
    expect(first.result).toMatchObject({ status: "sent" });
    expect(w.probe).toMatchObject({ cutEarly: true, sentEarly: 0 });

    files["a.bin"] = sprinkled(files["a.bin"]);
    writeFileSync(join(w.source.path, "a.bin"), files["a.bin"]);
    const second = await w.backup();
    expect(second.result).toMatchObject({ status: "sent" });
    expect(w.probe).toMatchObject({ cutEarly: true, sentEarly: 0 });
    expect(wireEvents(second.frames).some((e) => e.kind === "chunk" && e.delta)).toBe(true);
    expectRestores(w.root, second.result.archive!, files);
    await w.close();
    expect(w.logs.filter((l) => l.startsWith("error"))).toEqual([]);
  }, 60_000);

  test("an answer that does not take the base the early read assumed reads the source again, without deltas", async () => {
    // the server is told nothing: it would take diffs, but the client, told `base: false`, must not send them
    const w = await heldAnswerWorld((m) => ({ ...m, base: false }), 2_000);
    const files = { "a.bin": seeded("again-a", MiB) };
    writeFileSync(join(w.source.path, "a.bin"), files["a.bin"]);
    expect((await w.backup()).result).toMatchObject({ status: "sent" });
    files["a.bin"] = sprinkled(files["a.bin"]);
    writeFileSync(join(w.source.path, "a.bin"), files["a.bin"]);
    const second = await w.backup();
    expect(second.result).toMatchObject({ status: "sent" });
    expect(w.probe.sentEarly).toBe(0);
    const types = second.frames.filter((f) => f.dir === "sent" && f.kind === "binary").map((f) => (f as { type: number }).type);
    expect(types).toContain(FrameType.SEALED_MANIFEST);
    expect(types.filter((t) => t !== FrameType.SEALED_MANIFEST && t !== FrameType.SEALED_CHUNK)).toEqual([]);
    expectRestores(w.root, second.result.archive!, files);
    // the early read's new source index was removed: only the new archive's is left
    expect(readdirSync(join(w.root, "state", "sources")).filter((f) => f.endsWith(".index"))).toHaveLength(1);
    await w.close();
    expect(w.logs.filter((l) => l.startsWith("error"))).toEqual([]);
  }, 60_000);
});
