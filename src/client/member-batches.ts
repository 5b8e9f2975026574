// A fetch's members between receiving and writing: batched, checked off the main thread, written in order, a window of bytes at most.
import { chunkIdHex, type ManifestEntry } from "../archive/manifest.ts";
import type { MemberKeep } from "../archive/member-check.ts";
import { HashRelayError } from "../errors.ts";
import type { ReceiptBody } from "../protocol/signed-document.ts";
import type { BatchOutcome, MemberChecker, ReceivedMember } from "./member-checkers.ts";

const DAMAGED_HINT = "the server's copy is damaged: restore an older archive (hashrelay ls) and run hashrelay server verify on the server";
/** Raw bytes of the members checked as one batch (one message to a worker, one write): a member at least. */
const BATCH_BYTES = 1024 * 1024;

/** What the batches do with what they check (archive-fetch.ts's MemberOptions, resolved). */
export interface BatchPlan {
  checker: MemberChecker;
  keep: MemberKeep;
  /** Raw bytes in flight at most (received, not yet written); one member beyond it when a member is larger. */
  window: number;
  failFast: boolean;
  write?: (pieces: Uint8Array[]) => void | Promise<void>;
  progress?: (done: number, total: number) => void;
  inFlight?: (bytes: number) => void;
}

/** Consecutive members sent to check, from member `first`. */
interface Batch {
  first: number;
  members: ReceivedMember[];
  rawBytes: number;
  outcome: Promise<BatchOutcome>;
}

export class MemberBatches {
  /** Members that checked, and the problems found (each naming its member and chunk). */
  readonly result = { checked: 0, problems: [] as string[] };
  private readonly sent: Batch[] = [];
  private open: ReceivedMember[] = [];
  private openRaw = 0;
  private openFirst = 0;
  private inFlight = 0;
  /** A quarter of the window at most, so that several batches check at once. */
  private readonly batchLimit: number;

  constructor(
    private readonly total: number,
    private readonly receipt: ReceiptBody,
    private readonly plan: BatchPlan,
  ) {
    this.batchLimit = Math.min(BATCH_BYTES, plan.window / 4);
  }

  /** Before a member of `rawLength` is received: sends the open batch when it would outgrow its limit, and settles batches until the member fits the window. */
  async makeRoom(rawLength: number): Promise<void> {
    if (this.open.length > 0 && this.openRaw + rawLength > this.batchLimit) this.sendOpen();
    while (this.sent.length > 0 && this.inFlight + rawLength > this.plan.window) await this.settleOldest();
  }

  /** A member received (after makeRoom): joins the open batch. */
  add(received: ReceivedMember): void {
    this.open.push(received);
    this.openRaw += received.entry.rawLength;
    this.inFlight += received.entry.rawLength;
    this.plan.inFlight?.(this.inFlight);
  }

  /** Sends the last batch and settles every batch. Throws as settleOldest. */
  async finish(): Promise<void> {
    if (this.open.length > 0) this.sendOpen();
    while (this.sent.length > 0) await this.settleOldest();
  }

  /** Checks still running when the fetch failed: their outcome no longer matters. Never throws. */
  abandon(): void {
    for (const left of this.sent) left.outcome.catch(() => undefined);
  }

  private sendOpen(): void {
    const batch = { first: this.openFirst, members: this.open, rawBytes: this.openRaw };
    this.sent.push({ ...batch, outcome: this.plan.checker.check(this.open, this.plan.keep) });
    this.openFirst += this.open.length;
    this.open = [];
    this.openRaw = 0;
  }

  /** Waits for the oldest batch's check, then records its problems (with failFast, throws the first, HASH_MISMATCH) and writes what checked. */
  private async settleOldest(): Promise<void> {
    const { first, members, rawBytes, outcome } = this.sent.shift()!;
    const { problems, kept } = await outcome;
    const named = problems.map(({ at, problem }) => {
      const message = `${memberName(this.receipt, first + at, members[at]!.entry)} ${problem}`;
      return new HashRelayError("HASH_MISMATCH", message, DAMAGED_HINT);
    });
    if (named.length > 0 && this.plan.failFast) throw named[0];
    this.result.problems.push(...named.map((p) => p.message));
    this.result.checked += members.length - problems.length;
    if (kept && kept.length > 0) {
      await this.plan.write?.(kept);
      // raw bytes are written by now (tar's pipe took them): their buffers can take later batches
      if (this.plan.keep === "raw") this.plan.checker.release?.(kept);
    }
    this.inFlight -= rawBytes;
    this.plan.progress?.(first + members.length, this.total);
  }
}

/** "FILE: member N (chunk ID)", as problems name a member. */
export function memberName(receipt: ReceiptBody, index: number, entry: ManifestEntry): string {
  return `${receipt.file}: member ${index} (chunk ${chunkIdHex(entry.id)})`;
}
