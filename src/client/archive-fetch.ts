// The client side of `fetch`: an archive's chunk list and members streamed back, each checked against the archive's anchor.
import { createHash } from "node:crypto";
import { HashRelayError } from "../errors.ts";
import { archiveIdOf, chunkIdHex, type ManifestEntry } from "../archive/manifest.ts";
import { inflateStoredMember } from "../archive/filler.ts";
import { FileDigestHasher } from "../archive/pieces-digest.ts";
import { describeDigest, sameDigest, type FileDigest } from "../protocol/file-digest.ts";
import { decodeFetchedChunk, decodeManifestPage } from "../protocol/binary-frames.ts";
import { FrameType, IDLE_TIMEOUT_MS } from "../protocol/constants.ts";
import type { FetchingMessage } from "../protocol/messages.ts";
import type { ReceiptBody } from "../protocol/signed-document.ts";
import type { SecureSession } from "../session/secure-session.ts";

const DAMAGED_HINT = "the server's copy is damaged: restore an older archive (hashrelay ls) and run hashrelay server verify on the server";

/** An archive to fetch: archive `file` of source `name`. */
export interface FetchTarget {
  name: string;
  file: string;
}

/**
 * Sends `fetch` for `target` and receives `fetching` and its manifest pages. With `manifestOnly` nothing
 * follows; else every member follows (receiveMembers, or skipMembers to drop them). Checks nothing but
 * the pages' order: the caller anchors the head and checks the list (checkChunkList). Throws BAD_FRAME,
 * or what the session throws.
 */
export async function receivePages(
  session: SecureSession,
  target: FetchTarget,
  manifestOnly: boolean,
): Promise<{ head: FetchingMessage; entries: ManifestEntry[] }> {
  await session.sendControl({
    type: "fetch",
    name: target.name,
    file: target.file,
    ...(manifestOnly ? { manifestOnly: true as const } : {}),
  });
  const head = await session.expect(["fetching"], IDLE_TIMEOUT_MS);
  if (head.file !== target.file) throw new HashRelayError("BAD_FRAME", `asked for ${target.file}, the server sends ${head.file}`);
  const entries: ManifestEntry[] = [];
  while (entries.length < head.chunks) {
    const page = decodeManifestPage(await session.expectBinary(FrameType.SEALED_MANIFEST, IDLE_TIMEOUT_MS));
    if (page.firstIndex !== entries.length || entries.length + page.entries.length > head.chunks)
      throw new HashRelayError("BAD_FRAME", `manifest page at ${page.firstIndex} out of order`);
    entries.push(...page.entries);
  }
  return { head, entries };
}

/** Throws HASH_MISMATCH unless the chunk list hashes to the archive id of `receipt` (the anchor's). */
export function checkChunkList(entries: ManifestEntry[], receipt: ReceiptBody): void {
  const archiveId = archiveIdOf(entries);
  if (archiveId !== receipt.archiveId)
    throw new HashRelayError(
      "HASH_MISMATCH",
      `${receipt.file}: the chunk list the server sends has archive id ${archiveId}, the receipt says ${receipt.archiveId}`,
      "the server's copy is not the archive this client sent",
    );
}

export interface MemberOptions {
  /** Given each member once it checked, in order (e.g. written to the restored file). */
  write?: (member: Uint8Array) => void;
  progress?: (done: number, total: number) => void;
  /** Throw at the first bad member (restore); else read on to the end, so that the session stays in step, and return every problem (verify). */
  failFast: boolean;
}

/**
 * Receives the members that follow the pages of `entries` and checks each against its chunk id, then the
 * whole file against the receipt's digest (PROTOCOL.md §7.3). Returns how many members checked and the problems, each
 * naming the member and chunk (with failFast, throws HASH_MISMATCH at the first instead). Throws
 * BAD_FRAME on a member out of order, and what the session and `write` throw.
 */
export async function receiveMembers(
  session: SecureSession,
  entries: ManifestEntry[],
  receipt: ReceiptBody,
  options: MemberOptions,
): Promise<{ checked: number; problems: string[] }> {
  const digest = new FileDigestHasher(receipt);
  const problems: string[] = [];
  let checked = 0;
  for (const [index, entry] of entries.entries()) {
    const chunk = decodeFetchedChunk(await session.expectBinary(FrameType.SEALED_CHUNK, IDLE_TIMEOUT_MS));
    const named = `${receipt.file}: member ${index} (chunk ${chunkIdHex(entry.id)})`;
    if (chunk.index !== index) throw new HashRelayError("BAD_FRAME", `${named}: the server sent member ${chunk.index}`);
    digest.add(chunk.member);
    const problem = memberProblem(chunk.member, entry, named);
    if (problem && options.failFast) throw problem;
    if (problem) problems.push(problem.message);
    else {
      checked++;
      options.write?.(chunk.member);
    }
    options.progress?.(index + 1, entries.length);
  }
  const got = digest.result();
  if (!sameDigest(receipt, got)) {
    const mismatch = new HashRelayError(
      "HASH_MISMATCH",
      `${receipt.file}: ${describeDigest(got)}, the receipt says ${describeDigest(receipt)}`,
    );
    if (options.failFast) throw mismatch;
    problems.push(mismatch.message);
  }
  return { checked, problems };
}

/** Reads and drops the `count` members that follow the pages (an archive given up on), so that the session is back in IDLE. */
export async function skipMembers(session: SecureSession, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await session.expectBinary(FrameType.SEALED_CHUNK, IDLE_TIMEOUT_MS);
}

/** HASH_MISMATCH (naming the member as `named`) unless `member` inflates to the raw bytes of `entry`'s chunk id; else null. */
function memberProblem(member: Uint8Array, entry: ManifestEntry, named: string): HashRelayError | null {
  let raw: Uint8Array;
  try {
    raw = inflateStoredMember(member, entry.rawLength);
  } catch (err) {
    return new HashRelayError("HASH_MISMATCH", `${named} is damaged: ${(err as Error).message}`, DAMAGED_HINT);
  }
  if (raw.length !== entry.rawLength || !createHash("sha256").update(raw).digest().equals(Buffer.from(entry.id)))
    return new HashRelayError("HASH_MISMATCH", `${named} does not hash to its chunk id`, DAMAGED_HINT);
  return null;
}
