// The client side of `fetch`: an archive's manifest and members streamed back, each checked against the kept receipt.
import { createHash } from "node:crypto";
import fs from "node:fs";
import { HashRelayError } from "../errors.ts";
import { archiveIdOf, chunkIdHex, type ManifestEntry } from "../archive/manifest.ts";
import { inflateMember } from "../archive/gzip-member.ts";
import { inflateZstdMember } from "../archive/zstd-member.ts";
import { decodeChunkPayload, decodeManifestPage } from "../protocol/binary-frames.ts";
import { FrameType, IDLE_TIMEOUT_MS } from "../protocol/constants.ts";
import type { ReceiptBody } from "../protocol/signed-document.ts";
import type { SecureSession } from "../session/secure-session.ts";

const DAMAGED_HINT = "the server's copy is damaged: restore an older archive (hashrelay ls) and run hashrelay server verify on the server";

/**
 * Sends `fetch` for the receipt's archive and receives `fetching` and its manifest pages; the chunk
 * list must hash to the receipt's archive id. With `manifestOnly` nothing follows; else every member
 * follows (receiveArchive reads them). Throws HASH_MISMATCH when the list is not the receipted one,
 * BAD_FRAME, or what the session throws.
 */
export async function receiveManifest(session: SecureSession, receipt: ReceiptBody, manifestOnly: boolean): Promise<ManifestEntry[]> {
  await session.sendControl({
    type: "fetch",
    name: receipt.name,
    file: receipt.file,
    ...(manifestOnly ? { manifestOnly: true as const } : {}),
  });
  const head = await session.expect(["fetching"], IDLE_TIMEOUT_MS);
  if (head.file !== receipt.file) throw new HashRelayError("BAD_FRAME", `asked for ${receipt.file}, the server sends ${head.file}`);
  const entries: ManifestEntry[] = [];
  while (entries.length < head.chunks) {
    const page = decodeManifestPage(await session.expectBinary(FrameType.SEALED_MANIFEST, IDLE_TIMEOUT_MS));
    if (page.firstIndex !== entries.length || entries.length + page.entries.length > head.chunks)
      throw new HashRelayError("BAD_FRAME", `manifest page at ${page.firstIndex} out of order`);
    entries.push(...page.entries);
  }
  const archiveId = archiveIdOf(entries);
  if (archiveId !== receipt.archiveId) {
    throw new HashRelayError(
      "HASH_MISMATCH",
      `${receipt.file}: the chunk list the server sends has archive id ${archiveId}, the receipt says ${receipt.archiveId}`,
      "the server's copy is not the archive this client sent",
    );
  }
  return entries;
}

/**
 * Receives `fetching`, the manifest pages and every member of `file` into `out`, checking the manifest
 * against the receipt's archive id and every member against its chunk id before it is written, then
 * the whole file against the receipt's SHA-256. Throws HASH_MISMATCH naming the member and chunk,
 * BAD_FRAME, or what the session throws.
 */
export async function receiveArchive(
  session: SecureSession,
  receipt: ReceiptBody,
  out: string,
  progress: (done: number, total: number) => void,
): Promise<void> {
  const entries = await receiveManifest(session, receipt, false);
  const whole = createHash("sha256");
  const fd = fs.openSync(out, "wx", 0o600);
  try {
    for (const [index, entry] of entries.entries()) {
      const chunk = decodeChunkPayload(await session.expectBinary(FrameType.SEALED_CHUNK, IDLE_TIMEOUT_MS));
      const named = `${receipt.file}: member ${index} (chunk ${chunkIdHex(entry.id)})`;
      if (chunk.index !== index) throw new HashRelayError("BAD_FRAME", `${named}: the server sent member ${chunk.index}`);
      checkMember(chunk.member, entry, named);
      fs.writeSync(fd, chunk.member);
      whole.update(chunk.member);
      progress(index + 1, entries.length);
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  const sha = whole.digest("hex");
  if (sha !== receipt.fileSha256)
    throw new HashRelayError("HASH_MISMATCH", `${receipt.file}: file SHA-256 ${sha}, the receipt says ${receipt.fileSha256}`);
}

/** Throws HASH_MISMATCH (naming the member as `named`) unless `member` inflates to the raw bytes of `entry`'s chunk id. */
function checkMember(member: Uint8Array, entry: ManifestEntry, named: string): void {
  let raw: Uint8Array;
  try {
    raw = member[0] === 0x1f ? inflateMember(member, entry.rawLength) : inflateZstdMember(member, entry.rawLength);
  } catch (err) {
    throw new HashRelayError("HASH_MISMATCH", `${named} is damaged: ${(err as Error).message}`, DAMAGED_HINT);
  }
  if (raw.length !== entry.rawLength || !createHash("sha256").update(raw).digest().equals(Buffer.from(entry.id)))
    throw new HashRelayError("HASH_MISMATCH", `${named} does not hash to its chunk id`, DAMAGED_HINT);
}
