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

  /**
   * The members' buffers move to a worker, without a copy when a member is alone in its buffer but for the
   * frame's 4-byte index (a decrypted CHUNK frame is); else a copy does. The caller must not use them
   * afterwards. Rejects INTERNAL when a worker died or the pool is closed.
   */
  async check(batch: ReceivedMember[], keep: MemberKeep): Promise<BatchOutcome> {
    const members = batch.map(({ member }) =>
      member.byteOffset <= 4 && member.buffer.byteLength === member.byteOffset + member.byteLength ? member : member.slice(),
    );
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
    const { problems, kept } = await this.pool.run(job, [...members.map((m) => m.buffer as ArrayBuffer), ids.buffer]);
    return { problems, kept };
  }

  /** Ends the threads; pending checks are rejected. Never throws. */
  close(): void {
    this.pool.close();
  }
}
