// Answering `fetch`: an archive sent back whole for a restore, or only its chunk list for a verify, with what anchors it.
import type { ManifestEntry } from "../archive/manifest.ts";
import { FrameType, MANIFEST_PAGE_ENTRIES } from "../protocol/constants.ts";
import { encodeManifestPage } from "../protocol/binary-frames.ts";
import { formatPublicKey } from "../protocol/identity.ts";
import type { FetchMessage } from "../protocol/messages.ts";
import type { SignedDoc } from "../protocol/signed-document.ts";
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
    let index = 0;
    for (const m of source.members()) {
      // A member goes with the fillers before it (PROTOCOL.md §8.3): what the client receives makes up the file.
      const payload = new Uint8Array(4 + m.lead + m.length);
      new DataView(payload.buffer).setUint32(0, index++, false);
      payload.set(await source.read(m.offset - m.lead, m.lead + m.length), 4);
      await session.sendBinary(FrameType.SEALED_CHUNK, payload);
    }
    return source.count;
  } finally {
    await source.close();
  }
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
