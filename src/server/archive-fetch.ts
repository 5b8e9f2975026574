// Answering `fetch`: an archive sent back whole for a restore, or only its chunk list for a verify, with what anchors it.
import type { ManifestEntry } from "../archive/manifest.ts";
import { FrameType, MANIFEST_PAGE_ENTRIES } from "../protocol/constants.ts";
import { encodeManifestPage } from "../protocol/binary-frames.ts";
import { formatPublicKey } from "../protocol/identity.ts";
import type { FetchMessage } from "../protocol/messages.ts";
import type { SignedDoc } from "../protocol/signed-document.ts";
import type { SentMember } from "../store/archive-reader.ts";
import type { ArchiveSource } from "../store/store.ts";
import { receiptFor, signReceipt } from "./receipts.ts";
import type { SessionScope } from "./session-context.ts";

/**
 * `fetching` (with the archive's receipt, signed by the identity in force, and the manifest the client
 * signed when the server kept it), the archive's manifest as MANIFEST pages, then (unless manifestOnly)
 * every member, with the fillers before it, as a CHUNK frame in order; the archive's members are read
 * a page at a time. Members go as read, unchecked: the client verifies each against the chunk list it
 * anchored. Throws STORAGE when this client holds no such archive or it
 * cannot be read.
 */
export async function answerFetch(scope: SessionScope, message: FetchMessage): Promise<void> {
  const { client, log } = scope;
  const sent = await sendArchive(scope, message.name, message.file, message.manifestOnly === true);
  log.log(
    "info",
    message.manifestOnly
      ? `sent the chunk list of ${client}/${message.file} (${sent} chunks) for a verify`
      : `sent ${client}/${message.file} (${sent} chunks) for a restore`,
    { name: message.name },
  );
}

/** Sends archive `file` of `name` as answerFetch says; returns its chunk count. */
async function sendArchive(scope: SessionScope, name: string, file: string, manifestOnly: boolean): Promise<number> {
  const { session, ctx, client } = scope;
  const source = await ctx.store.archiveToSend(client, name, file);
  try {
    await session.sendControl({
      type: "fetching",
      file,
      size: source.size,
      chunks: source.count,
      ...(source.trashed ? { trashed: true as const } : {}),
      receipt: await currentReceipt(scope, source),
      ...(source.manifest ? { manifest: source.manifest } : {}),
    });
    let page: ManifestEntry[] = [];
    let firstIndex = 0;
    for (const m of source.members()) {
      page.push({ id: new Uint8Array(Buffer.from(m.id, "hex")), rawLength: m.rawLength });
      if (page.length < MANIFEST_PAGE_ENTRIES) continue;
      await session.sendBinary(FrameType.SEALED_MANIFEST, encodeManifestPage({ firstIndex, entries: page }));
      firstIndex += page.length;
      page = [];
    }
    if (page.length > 0) await session.sendBinary(FrameType.SEALED_MANIFEST, encodeManifestPage({ firstIndex, entries: page }));
    if (manifestOnly) return source.count;
    await sendMembers(session, source);
    return source.count;
  } finally {
    await source.close();
  }
}

/** Bytes of the archive read at once for sending, unless one member is longer: a read per member cost more than sealing it. */
const RUN_BYTES = 1024 * 1024;

/**
 * Every member of `source`, with the fillers before it (PROTOCOL.md §8.3: what the client receives makes up
 * the file), as a CHUNK frame in order. Consecutive members are read as one run into one of two reused
 * buffers, the next run read while this one is sent. A frame's plaintext is the member's span with its
 * 4-byte index written over the 4 bytes before it: the previous member's tail, sealed by then (or the
 * buffer's spare head).
 */
export async function sendMembers(session: SessionScope["session"], source: ArchiveSource): Promise<void> {
  const buffers = [new Uint8Array(4 + RUN_BYTES), new Uint8Array(4 + RUN_BYTES)];
  const runs = memberRuns(source.members());
  let index = 0;
  let next = runs.next();
  let reading = next.done ? null : readRun(source, next.value, buffers, 0);
  for (let turn = 0; reading; turn++) {
    const { run, bytes } = await reading;
    next = runs.next();
    reading = next.done ? null : readRun(source, next.value, buffers, (turn + 1) % 2);
    const start = run[0]!.offset - run[0]!.lead;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (const m of run) {
      const at = 4 + m.offset - m.lead - start;
      view.setUint32(at - 4, index++, false);
      await session.sendBinary(FrameType.SEALED_CHUNK, bytes.subarray(at - 4, at + m.lead + m.length));
    }
  }
}

/** The members in runs of consecutive bytes of RUN_BYTES at most (a longer member alone). */
function* memberRuns(members: Iterable<SentMember>): Generator<SentMember[]> {
  let run: SentMember[] = [];
  let start = 0;
  for (const m of members) {
    const from = m.offset - m.lead;
    const last = run.at(-1);
    if (last && (from !== last.offset + last.length || m.offset + m.length - start > RUN_BYTES)) {
      yield run;
      run = [];
    }
    if (run.length === 0) start = from;
    run.push(m);
  }
  if (run.length > 0) yield run;
}

/** Reads `run` into buffers[which] after its 4 spare bytes (growing it for a longer member); the bytes read start at 4. */
async function readRun(
  source: ArchiveSource,
  run: SentMember[],
  buffers: Uint8Array[],
  which: number,
): Promise<{ run: SentMember[]; bytes: Uint8Array }> {
  const start = run[0]!.offset - run[0]!.lead;
  const length = run.at(-1)!.offset + run.at(-1)!.length - start;
  if (buffers[which]!.length < 4 + length) buffers[which] = new Uint8Array(4 + length);
  const bytes = buffers[which]!.subarray(0, 4 + length);
  await source.readInto(start, bytes.subarray(4));
  return { run, bytes };
}

/**
 * The receipt of the archive `source` reads, signed by the identity in force: a stored archive's as
 * receiptFor keeps it; a trashed one's from its signed record, or signed again over its trash facts
 * (not recorded: the trash is only read).
 */
async function currentReceipt(scope: SessionScope, source: ArchiveSource): Promise<SignedDoc> {
  const { ctx } = scope;
  if (!source.trashed) return receiptFor({ ...source.facts, receipt: source.receipt }, scope);
  if (source.receipt?.key === formatPublicKey(ctx.identity.publicKey)) return source.receipt;
  return signReceipt(source.facts, ctx.identity);
}
