// How many archives the server assembles at once: more would not finish sooner on its disk and cores, only hold more memory.

/** Runs at most `limit` jobs at once; the others wait their turn in order. */
export class CommitGate {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  /** Runs `job` once fewer than `limit` others run; resolves or throws as it does. */
  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    try {
      return await job();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
