// The client side of `fetch`: an archive's chunk list and members streamed back, each checked against the archive's anchor.
import { HashRelayError } from "../errors.ts";
import { archiveIdOf, type ManifestEntry } from "../archive/manifest.ts";
import { FileDigestHasher } from "../archive/pieces-digest.ts";
import { GarbagePacer } from "./garbage-pacer.ts";
import { describeDigest, sameDigest } from "../protocol/file-digest.ts";
import { decodeFetchedChunk, decodeManifestPage } from "../protocol/binary-frames.ts";
import { FrameType, IDLE_TIMEOUT_MS } from "../protocol/constants.ts";
import type { FetchingMessage } from "../protocol/messages.ts";
import type { ReceiptBody } from "../protocol/signed-document.ts";
import type { SecureSession } from "../session/secure-session.ts";
import { MemberBatches, memberName } from "./member-batches.ts";
import { MemberCheckers, type MemberChecker } from "./member-checkers.ts";

/** Members between two looks at the heap while receiving (garbage-pacer.ts). */
const GARBAGE_CHECK_EVERY = 32;

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

/** Raw bytes of the members a restore holds at once, checking or waiting to be written, unless told otherwise. */
export const MEMBER_WINDOW_BYTES = 8 * 1024 * 1024;

export interface MemberOptions {
  /** Given the members that checked, in order, a batch at a time (e.g. written to the restored file, or to tar); awaited before the next. */
  write?: (pieces: Uint8Array[]) => void | Promise<void>;
  /** What `write` is given: the members as received (the archive file, the default) or their raw bytes (the tar stream). */
  keep?: "member" | "raw";
  /** Members done (checked, and written when there is a write) out of all. */
  progress?: (done: number, total: number) => void;
  /** Throw at the first bad member (restore); else read on to the end, so that the session stays in step, and return every problem (verify). */
  failFast: boolean;
  /** The members' raw bytes in flight (received, not yet written) at most (one member beyond it when a member is larger): MEMBER_WINDOW_BYTES by default. */
  windowBytes?: number;
  /** Checks the members; default: worker threads, started and closed here. */
  checker?: MemberChecker;
  /** Told the raw bytes in flight each time a member joins them (tests). */
  inFlight?: (bytes: number) => void;
}

/**
 * Receives the members that follow the pages of `entries` and checks each against its chunk id, in batches
 * on the checker's threads while the next ones arrive, at most `windowBytes` of raw bytes in flight; then
 * the whole file against the receipt's digest (PROTOCOL.md §7.3). Checked members are written in order. Returns how many
 * members checked and the problems, each naming the member and chunk (with failFast, throws HASH_MISMATCH
 * at the first instead, before anything after it is written). Throws BAD_FRAME on a member out of order,
 * and what the session, the checker and `write` throw.
 */
export async function receiveMembers(
  session: SecureSession,
  entries: ManifestEntry[],
  receipt: ReceiptBody,
  options: MemberOptions,
): Promise<{ checked: number; problems: string[] }> {
  const checker = options.checker ?? new MemberCheckers();
  const keep = options.write ? (options.keep ?? "member") : "none";
  const window = options.windowBytes ?? MEMBER_WINDOW_BYTES;
  const batches = new MemberBatches(entries.length, receipt, { ...options, checker, keep, window });
  const digest = new FileDigestHasher(receipt);
  const garbage = new GarbagePacer();
  try {
    for (const [index, entry] of entries.entries()) {
      // Frames, members and batches are garbage once written: JSC would let them pile up (garbage-pacer.ts).
      if (index % GARBAGE_CHECK_EVERY === 0) garbage.check();
      await batches.makeRoom(entry.rawLength);
      const chunk = decodeFetchedChunk(await session.expectBinary(FrameType.SEALED_CHUNK, IDLE_TIMEOUT_MS));
      if (chunk.index !== index)
        throw new HashRelayError("BAD_FRAME", `${memberName(receipt, index, entry)}: the server sent member ${chunk.index}`);
      digest.add(chunk.member);
      batches.add({ member: chunk.member, entry });
    }
    await batches.finish();
  } finally {
    batches.abandon();
    if (!options.checker) checker.close();
  }
  const got = digest.result();
  if (!sameDigest(receipt, got)) {
    const mismatch = new HashRelayError(
      "HASH_MISMATCH",
      `${receipt.file}: ${describeDigest(got)}, the receipt says ${describeDigest(receipt)}`,
    );
    if (options.failFast) throw mismatch;
    batches.result.problems.push(mismatch.message);
  }
  return batches.result;
}

/** Reads and drops the `count` members that follow the pages (an archive given up on), so that the session is back in IDLE. */
export async function skipMembers(session: SecureSession, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await session.expectBinary(FrameType.SEALED_CHUNK, IDLE_TIMEOUT_MS);
}
