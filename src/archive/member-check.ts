// The check a restore makes of the members it receives, a batch at a time on a worker thread: each inflates to its chunk's raw bytes, whose SHA-256 is the chunk id.
import { createHash } from "node:crypto";
import { leadingFillers, inflateStoredMember } from "./filler.ts";
import { GZIP_HEADER_BYTES, GZIP_TRAILER_BYTES, readMemberLength } from "./gzip-member.ts";

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
  /**
   * With keep "raw": a buffer of at least the raw lengths' sum and a byte to inflate the batch into, one
   * member after the other; the kept raw bytes are views into it (it comes back, to be given again).
   */
  out?: ArrayBuffer;
}

/** Inflates the whole raw deflate stream `deflated` into `out` from its start; returns the bytes written, throws Error when damaged or longer than out.length - 1 (io/inflate-into.ts). */
export type InflateInto = (deflated: Uint8Array, out: Uint8Array) => number;

export interface MemberCheckResult {
  job: number;
  /** Why a member is not its chunk ("is damaged: …", "does not hash to its chunk id"), by its place in the batch. */
  problems: { at: number; problem: string }[];
  /** What `keep` asked for, of the members that checked, in order (raw: the tar stream's bytes), each alone in its buffer; null for "none". */
  kept: Uint8Array[] | null;
}

/**
 * Checks every member of `job`: each must inflate to exactly its raw length of bytes whose SHA-256 is its id.
 * With `inflateInto` and the job's `out`, the raw bytes are inflated into `out` (checkMembersInto).
 */
export function checkMembers(job: MemberCheckJob, inflateInto?: InflateInto): MemberCheckResult {
  if (job.keep === "raw" && job.out && inflateInto) return checkMembersInto(job, new Uint8Array(job.out), inflateInto);
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

/** checkMembers for keep "raw", each member inflated into `out` right after the one before that checked. Throws RangeError when `out` is too short. */
function checkMembersInto(job: MemberCheckJob, out: Uint8Array, inflateInto: InflateInto): MemberCheckResult {
  const problems: { at: number; problem: string }[] = [];
  const kept: Uint8Array[] = [];
  let used = 0;
  for (const [at, member] of job.members.entries()) {
    const rawLength = job.rawLengths[at]!;
    if (used + rawLength + 1 > out.length) throw new RangeError(`an output buffer of ${out.length} bytes for ${used + rawLength + 1}`);
    // one byte beyond the raw length, so that a member that inflates to more shows it (the next member overwrites it)
    const slot = out.subarray(used, used + rawLength + 1);
    const problem = inflateSpanInto(member, rawLength, slot, inflateInto) ?? hashProblem(slot.subarray(0, rawLength), job.ids, at);
    if (problem !== null) problems.push({ at, problem });
    else {
      kept.push(slot.subarray(0, rawLength));
      used += rawLength;
    }
  }
  return { job: job.job, problems, kept };
}

/** Inflates the member `span` holds (after its fillers) into `slot`: null when it made exactly `rawLength` bytes, else why not. */
function inflateSpanInto(span: Uint8Array, rawLength: number, slot: Uint8Array, inflateInto: InflateInto): string | null {
  try {
    const at = leadingFillers(span);
    const member = span.subarray(at);
    // zstd members (and what is not a gzip member, to be named by inflateMember) take the copying path
    if (member[0] !== 0x1f || member[1] !== 0x8b) {
      const raw = inflateStoredMember(span, rawLength);
      if (raw.length !== rawLength) return "does not hash to its chunk id";
      slot.set(raw);
      return null;
    }
    const declared = readMemberLength(member, 0);
    if (declared !== member.length) return `is damaged: gzip member: header says ${declared} bytes, got ${member.length}`;
    const isize = new DataView(member.buffer, member.byteOffset, member.byteLength).getUint32(member.length - 4, true);
    if (isize !== rawLength) return "does not hash to its chunk id";
    const written = inflateInto(member.subarray(GZIP_HEADER_BYTES, member.length - GZIP_TRAILER_BYTES), slot);
    return written === rawLength ? null : "does not hash to its chunk id";
  } catch (err) {
    return `is damaged: ${(err as Error).message}`;
  }
}

/** null when the SHA-256 of `raw` is chunk id number `at` of `ids`, else the problem. */
function hashProblem(raw: Uint8Array, ids: Uint8Array, at: number): string | null {
  const id = ids.subarray(32 * at, 32 * at + 32);
  return createHash("sha256").update(raw).digest().equals(id) ? null : "does not hash to its chunk id";
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
