// Refused connections in the server log, aggregated: a flood of them costs a few lines a minute, never the log's history.
import type { Level, Logger } from "../io/log.ts";
import type { RefusalCause } from "./admission.ts";

/** Addresses told apart per interval; refusals from further addresses are summed on one line. */
const MAX_ADDRESSES = 32;

/**
 * The first refusal of each cause from an address in an interval is logged at once, with its detail
 * (the client key an unlisted client presented, the frame that was malformed); the others are counted,
 * and `flush` (the caller's timer, once per interval) writes one line per address with its counts.
 * So an interval costs at most 2 lines per cause for each of MAX_ADDRESSES addresses, plus one for the rest.
 */
export class RefusalLog {
  /** Refusals since the last flush beyond the first of each cause, per address. */
  private readonly counted = new Map<string, Map<RefusalCause, number>>();
  private readonly others = new Map<RefusalCause, number>();
  private otherAddresses = new Set<string>();

  constructor(
    private readonly log: Logger,
    /** The interval as the summary lines name it, e.g. "60 s". */
    private readonly interval: string,
  ) {}

  /** A connection from `remote` ("address:port") was refused for `cause`; `detail` says what happened. */
  refused(remote: string, address: string, cause: RefusalCause, detail: string): void {
    let causes = this.counted.get(address);
    if (!causes && this.counted.size >= MAX_ADDRESSES) {
      this.others.set(cause, (this.others.get(cause) ?? 0) + 1);
      if (this.otherAddresses.size < 100_000) this.otherAddresses.add(address);
      return;
    }
    if (!causes) this.counted.set(address, (causes = new Map()));
    const seen = causes.get(cause);
    if (seen !== undefined) {
      causes.set(cause, seen + 1);
      return;
    }
    causes.set(cause, 0);
    this.log.log(levelOf(cause), `handshake from ${remote} refused: ${cause}: ${detail}`, { peer: remote, cause });
  }

  /** One line per address refused more than once per cause since the last flush, then a new interval starts. */
  flush(): void {
    for (const [address, causes] of this.counted) this.summary(`from ${address}`, causes, address);
    if (this.others.size > 0) this.summary(`from ${this.otherAddresses.size} other addresses`, this.others, undefined);
    this.counted.clear();
    this.others.clear();
    this.otherAddresses = new Set();
  }

  private summary(from: string, causes: Map<RefusalCause, number>, peer: string | undefined): void {
    const counts = [...causes].filter(([, n]) => n > 0).sort(([a], [b]) => a.localeCompare(b));
    const total = counts.reduce((sum, [, n]) => sum + n, 0);
    if (total === 0) return;
    const level = counts.every(([cause]) => levelOf(cause) === "info") ? "info" : "warn";
    const list = counts.map(([cause, n]) => `${n} ${cause}`).join(", ");
    this.log.log(level, `refused ${total} more connection${total === 1 ? "" : "s"} ${from} in the last ${this.interval}: ${list}`, {
      peer,
    });
  }
}

/** A client told to wait its turn is routine (info); anything else may be an attack or a broken peer (warn). */
function levelOf(cause: RefusalCause): Level {
  return cause === "busy" ? "info" : "warn";
}
