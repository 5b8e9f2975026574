// A WAN between two sockets on one machine: each direction paced at a bit rate, then delayed (`tc netem` is not available here).

/** A link: one-way delay and bit rate, the same each way. */
export interface LinkShape {
  /** Added to every byte's trip, each way (25: a 50 ms round trip). */
  delayMs: number;
  /** The pace bytes leave at, each way. */
  bitsPerSecond: number;
}

/** The WAN: 50 ms round trip, 20 Mbit/s. */
export const WAN: LinkShape = { delayMs: 25, bitsPerSecond: 20_000_000 };

/** Bytes queued in one direction before the sender is paused: what socket buffers on a real link hold. */
const QUEUE_LIMIT = 256 * 1024;

interface Readable {
  on(event: "data", listener: (data: Buffer) => void): unknown;
  on(event: "end" | "close", listener: () => void): unknown;
  pause(): unknown;
  resume(): unknown;
}

/**
 * Forwards `from` to `to` as the link would: each chunk leaves once the ones before it have left at
 * the link's rate, and arrives `delayMs` later, in order; `from`'s end arrives after its last byte.
 * `from`'s close without an end (a reset) ends `to` the same way. `from` is paused while more than
 * QUEUE_LIMIT bytes are on their way.
 */
export function shapedPipe(from: Readable, to: { write(data: Buffer): unknown; end(): unknown }, link: LinkShape): void {
  const queue: { at: number; data: Buffer | null }[] = [];
  let lastDeparture = 0;
  let queued = 0;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let paused = false;
  const deliver = () => {
    timer = null;
    while (queue.length > 0 && queue[0]!.at <= performance.now()) {
      const { data } = queue.shift()!;
      if (data === null) {
        to.end();
        return;
      }
      to.write(data);
      queued -= data.length;
    }
    if (paused && queued <= QUEUE_LIMIT / 2) {
      paused = false;
      from.resume();
    }
    if (queue.length > 0) timer = setTimeout(deliver, Math.max(0, queue[0]!.at - performance.now()));
  };
  const enqueue = (data: Buffer | null) => {
    const now = performance.now();
    lastDeparture = Math.max(now, lastDeparture) + ((data?.length ?? 0) * 8 * 1000) / link.bitsPerSecond;
    queue.push({ at: lastDeparture + link.delayMs, data });
    if (timer === null) timer = setTimeout(deliver, Math.max(0, queue[0]!.at - now));
  };
  from.on("data", (data) => {
    queued += data.length;
    enqueue(data);
    if (!paused && queued > QUEUE_LIMIT) {
      paused = true;
      from.pause();
    }
  });
  let ended = false;
  const end = () => {
    if (!ended) enqueue(null);
    ended = true;
  };
  from.on("end", end);
  from.on("close", end);
}
