// Fetched members checked on worker threads, a batch at a time, so that a restore receives, checks and extracts at once.
import type { ManifestEntry } from "../archive/manifest.ts";
import type { MemberCheckJob, MemberCheckResult, MemberKeep } from "../archive/member-check.ts";
import { WorkerPool } from "../io/worker-pool.ts";

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
  close(): void;
}

export class MemberCheckers implements MemberChecker {
  private readonly pool = new WorkerPool<MemberCheckJob, MemberCheckResult>();

  /** The members are copied end to end into one buffer that moves to a worker. Rejects INTERNAL when a worker died or the pool is closed. */
  async check(batch: ReceivedMember[], keep: MemberKeep): Promise<BatchOutcome> {
    const members = new Uint8Array(batch.reduce((sum, b) => sum + b.member.length, 0));
    const ids = new Uint8Array(32 * batch.length);
    let at = 0;
    for (const [i, { member, entry }] of batch.entries()) {
      members.set(member, at);
      at += member.length;
      ids.set(entry.id, 32 * i);
    }
    const job: MemberCheckJob = {
      kind: "check-members",
      job: this.pool.number(),
      members,
      lengths: batch.map((b) => b.member.length),
      rawLengths: batch.map((b) => b.entry.rawLength),
      ids,
      keep,
    };
    const { problems, kept } = await this.pool.run(job, [members.buffer, ids.buffer]);
    return { problems, kept };
  }

  /** Ends the threads; pending checks are rejected. Never throws. */
  close(): void {
    this.pool.close();
  }
}
