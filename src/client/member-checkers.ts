// Fetched members checked on worker threads, a batch at a time, so that a restore receives, checks and extracts at once.
import type { ManifestEntry } from "../archive/manifest.ts";
import type { MemberCheckJob, MemberCheckResult, MemberKeep } from "../archive/member-check.ts";
import { WorkerPool } from "../io/worker-pool.ts";
import { SpareBuffers } from "../protocol/spare-buffers.ts";

/** A member as received, with its manifest entry. */
export interface ReceivedMember {
  member: Uint8Array;
  entry: ManifestEntry;
}

/** What checking a batch found: each problem by the member's place in the batch, and what `keep` asked for of the members that checked. */
export type BatchOutcome = Pick<MemberCheckResult, "problems" | "kept">;

/** Checks consecutive members against their manifest entries (archive/member-check.ts). */
export interface MemberChecker {
  check(batch: ReceivedMember[], keep: MemberKeep): Promise<BatchOutcome>;
  /** The raw bytes a check kept were written and are not used any more: their buffers may take the next batches. */
  release?(kept: Uint8Array[]): void;
  close(): void;
}

/** Bytes of an output buffer at least: a batch of raw bytes (member-batches.ts's 1 MiB) and the byte inflate needs beyond it. */
const OUT_BUFFER_BYTES = 1024 * 1024 + 1;
/** Released output buffers kept for the next batches at most (new ones are OUT_BUFFER_BYTES long, or a multiple): a window's worth of batches, and one being written. */
const SPARE_BUFFERS = 12;

/** Bytes after a member its buffer may hold and still be moved rather than copied: none of them are another's. */
const SLACK_AFTER_MEMBER = 16;

/** True when nothing but the 4-byte index before `member` and a few bytes of slack after it share its buffer. */
function aloneInBuffer(member: Uint8Array): boolean {
  const after = member.buffer.byteLength - (member.byteOffset + member.byteLength);
  return member.byteOffset <= 4 && after <= SLACK_AFTER_MEMBER;
}

export class MemberCheckers implements MemberChecker {
  private readonly pool = new WorkerPool<MemberCheckJob, MemberCheckResult>();
  /** Output buffers back from the threads whose raw bytes were written: inflating into them again spares an allocation per chunk. */
  private readonly spare = new SpareBuffers(SPARE_BUFFERS * OUT_BUFFER_BYTES, OUT_BUFFER_BYTES);

  /**
   * The members' buffers move to a worker, without a copy when a member is alone in its buffer but for the
   * frame's 4-byte index before it and a few bytes after it (a decrypted CHUNK frame is: Bun's decipher
   * leaves one); else a copy does. The caller must not use them afterwards. Rejects INTERNAL when a worker
   * died or the pool is closed.
   */
  async check(batch: ReceivedMember[], keep: MemberKeep): Promise<BatchOutcome> {
    const members = batch.map(({ member }) => (aloneInBuffer(member) ? member : member.slice()));
    const ids = new Uint8Array(32 * batch.length);
    for (const [i, { entry }] of batch.entries()) ids.set(entry.id, 32 * i);
    const job: MemberCheckJob = {
      kind: "check-members",
      job: this.pool.number(),
      members,
      rawLengths: batch.map((b) => b.entry.rawLength),
      ids,
      keep,
    };
    if (keep === "raw") job.out = this.spare.take(job.rawLengths.reduce((sum, n) => sum + n, 1));
    const transfer = [...members.map((m) => m.buffer as ArrayBuffer), ids.buffer, ...(job.out ? [job.out] : [])];
    const { problems, kept } = await this.pool.run(job, transfer);
    return { problems, kept };
  }

  /** The kept raw bytes' buffers join the spares (each once, SPARE_BUFFERS of them at most). The caller must not use them afterwards. */
  release(kept: Uint8Array[]): void {
    for (const raw of kept) this.spare.give(raw.buffer as ArrayBuffer);
  }

  /** Ends the threads; pending checks are rejected. Never throws. */
  close(): void {
    this.pool.close();
  }
}
