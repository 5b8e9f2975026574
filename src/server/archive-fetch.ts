// Answering `fetch`: an archive sent back whole for a restore, or only its chunk list for a verify.
import { FrameType } from "../protocol/constants.ts";
import { encodeManifestPage, manifestPages } from "../protocol/binary-frames.ts";
import type { FetchMessage } from "../protocol/messages.ts";
import type { SessionScope } from "./session-context.ts";

/**
 * `fetching`, the archive's manifest as MANIFEST pages, then (unless manifestOnly) every member as a
 * CHUNK frame in order. Members go as read, unchecked: the client verifies each against the manifest
 * it signed. Throws STORAGE when this client holds no such archive or it cannot be read.
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
      chunks: source.members.length,
      ...(source.trashed ? { trashed: true as const } : {}),
    });
    const entries = source.members.map((m) => ({ id: new Uint8Array(Buffer.from(m.id, "hex")), rawLength: m.rawLength }));
    for (const page of manifestPages(entries)) await session.sendBinary(FrameType.SEALED_MANIFEST, encodeManifestPage(page));
    if (manifestOnly) return source.members.length;
    for (const [index, m] of source.members.entries()) {
      const payload = new Uint8Array(4 + m.length);
      new DataView(payload.buffer).setUint32(0, index, false);
      payload.set(await source.read(m.offset, m.length), 4);
      await session.sendBinary(FrameType.SEALED_CHUNK, payload);
    }
    return source.members.length;
  } finally {
    await source.close();
  }
}
