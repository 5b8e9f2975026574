// The page order of PROTOCOL.md §10 step 4 (one page ahead; from version 5 without waiting for NEEDs), stated here and nowhere else.
import { GarbagePacer } from "../garbage-pacer.ts";
import type { ChunkOutcome } from "./chunk-choice.ts";
import type { OutgoingPage } from "./page-builder.ts";

/** The stages a page goes through; the pipeline only decides when each runs. */
export interface PageStages {
  /** Sends the page; resolves with the indexes its NEED asks for. */
  offer(page: OutgoingPage): Promise<ReadonlySet<number>>;
  /**
   * Starts the work for the page's chunks (deltas, compression): one outcome per entry, in order. `needed`:
   * the NEED's indexes, read; or, in a version-5 session, the NEED still on its way (ChunkChoice.outcomesOf).
   */
  prepare(page: OutgoingPage, needed: ReadonlySet<number> | Promise<ReadonlySet<number>>): Promise<ChunkOutcome>[];
  /** Sends the frames of one page's outcomes, in order. */
  send(outcomes: readonly Promise<ChunkOutcome>[]): Promise<void>;
}

/**
 * Pages go out in this order (PROTOCOL.md §10 step 4):
 * 1. page k+1 is offered as soon as the NEED of page k is read, so the server answers it while page
 *    k's chunks are still being made and sent, and those of page k+1 are ready when page k's are out;
 *    in a version-5 session (`pipelined`) as soon as it is built, the NEED of page k still on its way:
 *    the two NEEDs share one round trip; and the work for its chunks starts right behind it, so its
 *    HASH_REQUEST follows it before its NEED is read (§8.8) and its SUB_HASHES shares the NEED's turn;
 * 2. page k+1's chunks go only after every chunk of page k is out (`sentBefore`): chunks travel in
 *    index order, which the server checks;
 * 3. page k+2 is read and chunked only once page k's chunks are out (`offer` returns then): two
 *    windows of raw bytes at most, one being sent and one being read or offered.
 */
export class PagePipeline {
  /** Settles when the NEED of the last page offered is read. */
  private needRead: Promise<unknown> = Promise.resolve();
  /** Settles when every chunk of every page offered so far is out. */
  private sent: Promise<unknown> = Promise.resolve();
  private readonly garbage = new GarbagePacer();

  /** `pipelined`: a version-5 session, whose pages and their work do not wait for NEEDs (rule 1). */
  constructor(
    private readonly stages: PageStages,
    private readonly pipelined = false,
  ) {}

  /**
   * Offers `page` once the NEED of the page before it is read (rule 1; at once when `pipelined`) and returns once the chunks of
   * every page before it are out (rule 3); its own chunks follow in the background (rule 2). Throws
   * what an earlier page's offer or chunks failed with.
   */
  async offer(page: OutgoingPage): Promise<void> {
    if (!this.pipelined) await this.needRead;
    const sentBefore = this.sent;
    const offered = this.stages.offer(page);
    this.sent = this.sendAfter(page, offered, sentBefore);
    this.needRead = offered;
    // Awaited in turn (the next offer, finish); this only keeps an early failure from being unhandled.
    offered.catch(() => undefined);
    this.sent.catch(() => undefined);
    await sentBefore;
    // Every chunk that travels leaves its payload and sealed frame behind (garbage-pacer.ts).
    this.garbage.check();
  }

  /** Settles when every chunk of every page offered is out; rejects with the first failure. */
  async finish(): Promise<void> {
    await this.sent;
  }

  /** Sends the chunks `page`'s NEED asks for, after those of every page before it (`sentBefore`). */
  private async sendAfter(page: OutgoingPage, offered: Promise<ReadonlySet<number>>, sentBefore: Promise<unknown>): Promise<void> {
    const outcomes = this.pipelined ? this.stages.prepare(page, offered) : await this.prepareAfterNeed(page, offered);
    // If the page fails half way, the jobs not awaited yet are rejected when the workers close: not an unhandled rejection.
    for (const outcome of outcomes) outcome.catch(() => undefined);
    await offered; // nothing of a page goes before its NEED is read
    await sentBefore; // rule 2
    await this.stages.send(outcomes);
  }

  /** Before version 5: the page's work once its NEED is read, while the server takes in the previous page's chunks. */
  private async prepareAfterNeed(page: OutgoingPage, offered: Promise<ReadonlySet<number>>): Promise<Promise<ChunkOutcome>[]> {
    const needed = await offered;
    // One macrotask first: an offer waiting for this NEED sends the next page before the deltas are
    // made here, and the server answers it meanwhile.
    await new Promise((resolve) => setImmediate(resolve));
    return this.stages.prepare(page, needed);
  }
}
