// The client's one schedule timer: sleep until a time, woken early by a reload or a stop.

/** setTimeout's longest delay; longer sleeps are taken in steps. */
const MAX_DELAY_MS = 2 ** 31 - 1;

/**
 * At most one timer is ever armed: each sleepUntil disarms the previous one (whose promise resolves
 * "woken"), so reloads re-arming the schedule in a burst can never leave two ticks scheduled.
 */
export class ScheduleTimer {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private waiter: ((why: "due" | "woken") => void) | null = null;

  /** Timers armed right now: 0 or 1. */
  get armed(): number {
    return this.timer ? 1 : 0;
  }

  /** Resolves "due" at `atMs` (Date.now() time), or "woken" as soon as wake() or another sleepUntil is called. */
  sleepUntil(atMs: number): Promise<"due" | "woken"> {
    this.wake();
    return new Promise((resolve) => {
      this.waiter = resolve;
      const step = () => {
        const wait = atMs - Date.now();
        if (wait <= 0) return this.settle("due");
        this.timer = setTimeout(step, Math.min(wait, MAX_DELAY_MS));
      };
      step();
    });
  }

  /** Ends the current sleep early ("woken"); a no-op when none is running. */
  wake(): void {
    this.settle("woken");
  }

  private settle(why: "due" | "woken"): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.(why);
  }
}
