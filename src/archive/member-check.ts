// The check a restore makes of the members it receives, a batch at a time on a worker thread: each inflates to its chunk's raw bytes, whose SHA-256 is the chunk id.
import { createHash } from "node:crypto";
import { inflateStoredMember } from "./filler.ts";

export type MemberKeep = "raw" | "member" | "none";

/**
 * Consecutive members to check against their manifest entries. One message per batch, not per member:
 * a message costs the main thread more than a memcpy of the member. `keep` says what comes back.
 */
export interface MemberCheckJob {
  kind: "check-members";
  job: number;
  /** The members as fetched (each with the fillers that may precede it, PROTOCOL.md §8.3), end to end. */
  members: Uint8Array;
  /** Each member's length in `members`. */
  lengths: number[];
  rawLengths: number[];
  /** The chunk ids, 32 bytes each. */
  ids: Uint8Array;
  keep: MemberKeep;
}

export interface MemberCheckResult {
  job: number;
  /** Why a member is not its chunk ("is damaged: …", "does not hash to its chunk id"), by its place in the batch. */
  problems: { at: number; problem: string }[];
  /** What `keep` asked for, of the members that checked, end to end (raw: the tar stream's bytes); null for "none". */
  kept: Uint8Array | null;
}

/** Checks every member of `job`: each must inflate to exactly its raw length of bytes whose SHA-256 is its id. */
export function checkMembers(job: MemberCheckJob): MemberCheckResult {
  const problems: { at: number; problem: string }[] = [];
  const raws: Uint8Array[] = [];
  const good: Uint8Array[] = [];
  let offset = 0;
  for (const [at, length] of job.lengths.entries()) {
    const member = job.members.subarray(offset, offset + length);
    offset += length;
    const checked = checkMember(member, job.rawLengths[at]!, job.ids.subarray(32 * at, 32 * at + 32));
    if (typeof checked === "string") problems.push({ at, problem: checked });
    else {
      raws.push(checked);
      good.push(member);
    }
  }
  const kept =
    job.keep === "none" ? null : job.keep === "member" && problems.length === 0 ? job.members : concat(job.keep === "raw" ? raws : good);
  return { job: job.job, problems, kept };
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

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The buffer of `result` to transfer back to the main thread. */
export function memberCheckTransferables(result: MemberCheckResult): ArrayBuffer[] {
  return result.kept ? [result.kept.buffer as ArrayBuffer] : [];
}
