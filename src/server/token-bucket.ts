// Pure: a token bucket (burst, then a steady rate) that bounds how often costly work may start.

export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    private readonly burst: number,
    private readonly perSecond: number,
    now: number,
  ) {
    this.tokens = burst;
    this.at = now;
  }

  /** 0 when a token is there at `now`, else the ms until one is due; takes nothing. */
  waitMs(now: number): number {
    this.refill(now);
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) / this.perSecond) * 1000);
  }

  /** Takes one token at `now` (the balance may go below zero: the next one is due that much later). */
  take(now: number): void {
    this.refill(now);
    this.tokens -= 1;
  }

  /** Whether the bucket is back to its burst at `now` (it can be forgotten: a new one is the same). */
  full(now: number): boolean {
    this.refill(now);
    return this.tokens >= this.burst;
  }

  private refill(now: number): void {
    if (now > this.at) this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.perSecond);
    this.at = Math.max(this.at, now);
  }
}
