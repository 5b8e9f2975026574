// Requests whose answers come back in the order they went out (NEEDs, sub-block hashes), read by one reader in that order.
import { IDLE_TIMEOUT_MS } from "../../protocol/constants.ts";
import type { FrameSession } from "./opening-session.ts";

/**
 * The server answers a page with its NEED and a HASH_REQUEST with its SUB_HASHES, each in the order it
 * received them (PROTOCOL.md §10 step 4, §8.8), while the client has several questions out at once (a page
 * ahead, the hashes of the page before it). Each answer is read after the answers to every earlier question.
 */
export class ReplyOrder {
  private lastRead: Promise<unknown> = Promise.resolve();
  /** While questions wait for `opened`: the last of them, each going out after the one before it. */
  private lastSent: Promise<unknown> | null;

  /** `opened`: no question goes out before it settles, then each goes in call order; none if it rejects. */
  constructor(
    private readonly session: FrameSession,
    opened?: Promise<unknown>,
  ) {
    this.lastSent = opened ?? null;
  }

  /**
   * Sends `payload` as a frame of `type` and returns the payload of the answer, a frame of `replyType`.
   * Throws what sending and reading throw (BAD_FRAME for another frame, TIMEOUT, CLOSED, the server's error),
   * and what `opened` rejected with.
   */
  ask(type: number, payload: Uint8Array, replyType: number): Promise<Uint8Array> {
    // Sealed now (or behind the question before it), in call order: the wire carries the questions in the order
    // their answers are read.
    const send = () => this.session.sendBinary(type, payload);
    const sent = this.lastSent ? this.sendBehind(send) : send();
    const answer = this.lastRead.then(() => sent).then(() => this.session.expectBinary(replyType, IDLE_TIMEOUT_MS));
    this.lastRead = answer.catch(() => undefined);
    return answer;
  }

  /** `send` once the question before it is out; the last one out lets later questions go at once again. */
  private sendBehind(send: () => Promise<void>): Promise<void> {
    const queued = this.lastSent!.then(send);
    this.lastSent = queued;
    const clear = () => {
      if (this.lastSent === queued) this.lastSent = null;
    };
    queued.then(clear, clear);
    return queued;
  }
}
