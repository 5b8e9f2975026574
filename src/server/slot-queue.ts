// Pure: who gets the next session slot when the server is full: listed keys wait their turn, told when to come back.
//
// A listed client that finds no free slot gets a place (its ticket) and a hint: come back in N ms,
// N estimated from its place and how fast slots free up. A slot that frees goes to the earliest
// tickets whose time is (nearly) due; a newcomer gets a slot only when more are free than such
// tickets ahead of it. Tickets are per key, so a key cannot queue twice, and one whose client does
// not come back lapses. First come, first served, without holding a connection open while waiting.

/** What a key asking for a slot is told. */
export type SlotAnswer = { admitted: true } | { admitted: false; retryAfterMs: number; place: number; waiting: number };

/** A ticket ahead of the asker counts as a claim on a free slot from this long before its due time. */
const CLAIM_AHEAD_MS = 1_000;
/** A ticket lapses this long after its due time (or one hint's length, if longer) when its client has not come back. */
const GRACE_MS = 5_000;
/** Bounds of the hint: never "at once", never longer than half a minute (the client asks again and gets a fresh one). */
export const RETRY_HINT_MS = { min: 250, max: 30_000 } as const;
/**
 * The hint is this share of the estimated wait: a client back too early costs one cheap BUSY (no key
 * agreement, no signature), one back too late leaves a slot idle.
 */
const EARLY = 0.5;
/** The mean session length assumed before any session ended. */
const FIRST_SESSION_GUESS_MS = 2_000;
/** Weight of the newest session in the running mean. */
const SMOOTHING = 0.3;

interface Ticket {
  due: number;
  lapses: number;
}

export class SlotQueue {
  /** In ticket order (a Map keeps insertion order): the first is served first. */
  private readonly tickets = new Map<string, Ticket>();
  private meanSessionMs = FIRST_SESSION_GUESS_MS;

  constructor(private capacity: number) {}

  /** A reload changed server.limits.maxConnections. */
  setCapacity(capacity: number): void {
    this.capacity = capacity;
  }

  get waiting(): number {
    return this.tickets.size;
  }

  /**
   * `key` asks for one of `capacity` slots, `taken` of which are in use, at `now`: admitted (its ticket,
   * if any, is spent), or told its place and when to ask again (its ticket is kept or made).
   */
  ask(key: string, taken: number, now: number): SlotAnswer {
    this.lapse(now);
    const free = this.capacity - taken;
    let place = 0;
    let claimsAhead = 0;
    for (const [other, ticket] of this.tickets) {
      if (other === key) break;
      place++;
      if (ticket.due <= now + CLAIM_AHEAD_MS) claimsAhead++;
    }
    if (free > claimsAhead) {
      this.tickets.delete(key);
      return { admitted: true };
    }
    const retryAfterMs = this.hint(place, Math.max(0, free));
    const ticket = this.tickets.get(key) ?? { due: 0, lapses: 0 };
    ticket.due = now + retryAfterMs;
    ticket.lapses = ticket.due + Math.max(GRACE_MS, retryAfterMs);
    this.tickets.set(key, ticket);
    return { admitted: false, retryAfterMs, place: place + 1, waiting: this.tickets.size };
  }

  /** A session that held a slot for `durationMs` ended: the estimate of how fast slots free up follows. */
  sessionEnded(durationMs: number): void {
    this.meanSessionMs += SMOOTHING * (Math.max(1, durationMs) - this.meanSessionMs);
  }

  /** When the ticket at `place` (0: first) should come back: the slots it waits for, at the rate they free up. */
  private hint(place: number, free: number): number {
    const slotsToWaitFor = place - free + 1;
    const ms = (EARLY * slotsToWaitFor * this.meanSessionMs) / Math.max(1, this.capacity);
    return Math.round(Math.min(RETRY_HINT_MS.max, Math.max(RETRY_HINT_MS.min, ms)));
  }

  private lapse(now: number): void {
    for (const [key, ticket] of this.tickets) if (ticket.lapses < now) this.tickets.delete(key);
  }
}
