// The check a restore makes of the members it receives, a batch at a time on a worker thread: each inflates to its chunk's raw bytes, whose SHA-256 is the chunk id.
import { createHash } from "node:crypto";
import { inflateStoredMember } from "./filler.ts";

export type MemberKeep = "raw" | "member" | "none";

/**
 * Consecutive members to check against their manifest entries. One message per batch, not per member:
 * a message costs the main thread more than the check. `keep` says what comes back.
 */
export interface MemberCheckJob {
  kind: "check-members";
  job: number;
  /** The members as fetched, each with the fillers that may precede it (PROTOCOL.md §8.3). */
  members: Uint8Array[];
  rawLengths: number[];
  /** The chunk ids, 32 bytes each. */
  ids: Uint8Array;
  keep: MemberKeep;
}

export interface MemberCheckResult {
  job: number;
  /** Why a member is not its chunk ("is damaged: …", "does not hash to its chunk id"), by its place in the batch. */
  problems: { at: number; problem: string }[];
  /** What `keep` asked for, of the members that checked, in order (raw: the tar stream's bytes), each alone in its buffer; null for "none". */
  kept: Uint8Array[] | null;
}

/** Checks every member of `job`: each must inflate to exactly its raw length of bytes whose SHA-256 is its id. */
export function checkMembers(job: MemberCheckJob): MemberCheckResult {
  const problems: { at: number; problem: string }[] = [];
  const kept: Uint8Array[] = [];
  for (const [at, member] of job.members.entries()) {
    const checked = checkMember(member, job.rawLengths[at]!, job.ids.subarray(32 * at, 32 * at + 32));
    if (typeof checked === "string") problems.push({ at, problem: checked });
    else if (job.keep !== "none") kept.push(owned(job.keep === "raw" ? checked : member));
  }
  return { job: job.job, problems, kept: job.keep === "none" ? null : kept };
}

/** The raw bytes of `member`, or why it is not the chunk `id` of `rawLength` bytes. */
function checkMember(member: Uint8Array, rawLength: number, id: Uint8Array): Uint8Array | string {
  let raw: Uint8Array;
  try {
    raw = inflateStoredMember(member, rawLength);
  } catch (err) {
    return `is damaged: ${(err as Error).message}`;
  }
  if (raw.length !== rawLength || !createHash("sha256").update(raw).digest().equals(id)) return "does not hash to its chunk id";
  return raw;
}

/** Buffers at most this long may be a slab that small allocations share (node's Buffer pool is 8 KiB). */
const SHARED_SLAB_BYTES = 8192;

/**
 * `bytes` in a buffer that can be transferred: its own, as it is (a view into it is fine: inflate's output
 * is one chunk a byte longer than the raw bytes); a copy when its buffer may be a shared slab.
 */
function owned(bytes: Uint8Array): Uint8Array {
  const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
  return whole || bytes.buffer.byteLength > SHARED_SLAB_BYTES ? bytes : bytes.slice();
}

/** The buffers of `result` to transfer back to the main thread. */
export function memberCheckTransferables(result: MemberCheckResult): ArrayBuffer[] {
  return [...new Set((result.kept ?? []).map((k) => k.buffer as ArrayBuffer))];
}
