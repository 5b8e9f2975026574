// The scheduled scrub's clock: one store step per interval for the cycle in force (server.scrub), never two at once.
import { scrubStepMs, type Store } from "../store/store.ts";
import type { Logger } from "../io/log.ts";

/**
 * Runs Store.scrubStep every scrubStepMs(cycle) while a cycle is set; `set` follows reloads (null: off,
 * the step in progress finishes). Each finding is logged for the admin; the store records it.
 */
export class ScrubTimer {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private cycleMs: number | null = null;
  private store: Store | null = null;

  constructor(private readonly log: Logger) {}

  /** Scrubs `store` once per `cycleMs` from now on (null: stops). The first step runs at once. */
  set(store: Store, cycleMs: number | null): void {
    const changed = cycleMs !== this.cycleMs || store !== this.store;
    this.store = store;
    this.cycleMs = cycleMs;
    if (!changed) return;
    this.clear();
    if (cycleMs !== null) this.schedule(0);
  }

  /** Stops the timer (a step in progress finishes on its own). */
  stop(): void {
    this.cycleMs = null;
    this.clear();
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => void this.tick(), delayMs);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    this.timer = null;
    const { store, cycleMs } = this;
    if (!store || cycleMs === null) return;
    const report = await store.scrub.step(cycleMs);
    for (const file of report.damaged)
      this.log.log("error", `scrub: ${file} is damaged; the next backup of its source sends the damaged chunks again`);
    if (this.cycleMs === cycleMs && this.store === store && this.timer === null) this.schedule(scrubStepMs(cycleMs));
  }

  private clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
