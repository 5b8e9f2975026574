// Admission: strangers evict only strangers, listed clients wait their turn in order, costly work stays bounded.
import { describe, expect, test } from "bun:test";
import type { BusyRefusal } from "../protocol/handshake.ts";
import { Admission, FRESH, SLOTS_PER_KEY, type Entrant } from "./admission.ts";
import { RETRY_HINT_MS } from "./slot-queue.ts";

/** An admission with a hand-moved clock; `cuts` lists who was evicted with which BUSY. */
function setup(capacity: number) {
  let now = 1_000_000;
  const admission = new Admission(capacity, () => now);
  const cuts: { entrant: Entrant; busy: BusyRefusal }[] = [];
  const connect = (address = "127.0.0.1") => {
    const entrant: Entrant = admission.connected(address, (busy) => cuts.push({ entrant, busy }));
    return entrant;
  };
  /** A connection that sends the HELLO of `key` (admitted or told BUSY). */
  const hello = (key: string, address = "127.0.0.1") => {
    const entrant = connect(address);
    return { entrant, busy: admission.hello(entrant, key) };
  };
  /** A client of `key` that authenticates at once. */
  const session = (key: string) => {
    const { entrant, busy } = hello(key);
    expect(busy).toBeNull();
    admission.authenticated(entrant);
    return entrant;
  };
  return { admission, cuts, connect, hello, session, advance: (ms: number) => (now += ms) };
}

describe("connections without a HELLO", () => {
  test("over the bound of one address the oldest of that address is cut with BUSY; a connection past its HELLO is never cut", () => {
    const { admission, cuts, connect, hello } = setup(64);
    const listed = hello("ed25519:client-a");
    expect(listed.busy).toBeNull();
    const silent = Array.from({ length: FRESH.perAddress }, () => connect());
    expect(cuts).toHaveLength(0);
    const newcomer = connect();
    expect(cuts.map((c) => c.entrant)).toEqual([silent[0]!]);
    expect(cuts[0]!.busy.reason).toContain("without a HELLO");
    expect(cuts[0]!.busy.retryAfterMs).toBeGreaterThan(0);
    expect(silent[0]!.refusedFor).toBe("evicted");
    expect(listed.entrant.stage).toBe("admitted");
    expect(newcomer.stage).toBe("fresh");
    // another address keeps its own share
    const other = connect("192.0.2.7");
    expect(cuts).toHaveLength(1);
    expect(admission.counts()).toMatchObject({ fresh: FRESH.perAddress + 1, admitted: 1 });
    // an evicted connection that sends its HELLO late is not admitted
    expect(admission.hello(silent[0]!, "ed25519:client-b")).not.toBeNull();
    admission.closed(other);
  });

  test("over the bound of all addresses the oldest of all is cut", () => {
    const { cuts, connect } = setup(64);
    const addresses = FRESH.total / FRESH.perAddress;
    const byAddress = Array.from({ length: addresses }, (_, a) => Array.from({ length: FRESH.perAddress }, () => connect(`10.0.0.${a}`)));
    expect(cuts).toHaveLength(0);
    connect("10.9.9.9");
    expect(cuts.map((c) => c.entrant)).toEqual([byAddress[0]![0]!]);
  });

  test("a connection that closes frees its place", () => {
    const { admission, connect } = setup(64);
    const entrant = connect();
    admission.closed(entrant);
    admission.closed(entrant);
    expect(admission.counts()).toEqual({ fresh: 0, admitted: 0, sessions: 0, waiting: 0 });
  });
});

describe("session slots", () => {
  test("a full server answers BUSY with the client's place and a hint; a freed slot goes to it", () => {
    const { admission, session, hello, advance } = setup(2);
    const a = session("ed25519:a");
    session("ed25519:b");
    const c = hello("ed25519:c");
    expect(c.busy!.reason).toBe("server busy: 2 sessions open; this client is number 1 of 1 waiting");
    expect(c.busy!.retryAfterMs).toBeGreaterThanOrEqual(RETRY_HINT_MS.min);
    expect(c.entrant.refusedFor).toBe("busy");
    admission.closed(c.entrant);
    expect(admission.counts()).toMatchObject({ sessions: 2, waiting: 1 });
    advance(3_000);
    admission.closed(a);
    expect(hello("ed25519:c").busy).toBeNull();
    expect(admission.counts()).toMatchObject({ admitted: 1, waiting: 0 });
  });

  test("first come, first served: a freed slot is kept for the earliest waiting client whose time is due, not the first to ask", () => {
    const { admission, session, hello, advance } = setup(1);
    const holder = session("ed25519:holder");
    const first = hello("ed25519:first").busy!;
    const second = hello("ed25519:second").busy!;
    expect(second.retryAfterMs).toBeGreaterThan(first.retryAfterMs);
    advance(second.retryAfterMs);
    admission.closed(holder);
    // the second comes back at its time, but the first's ticket is due: the slot is the first's
    expect(hello("ed25519:second").busy?.reason).toContain("number 2 of 2 waiting");
    expect(hello("ed25519:newcomer").busy?.reason).toContain("number 3 of 3 waiting");
    expect(hello("ed25519:first").busy).toBeNull();
  });

  test("one client holds at most SLOTS_PER_KEY slots, however many are free; the others still get theirs", () => {
    const { admission, session, hello } = setup(64);
    const own = Array.from({ length: SLOTS_PER_KEY }, () => session("ed25519:greedy"));
    const over = hello("ed25519:greedy");
    expect(over.busy?.reason).toBe(`server busy: this client already holds ${SLOTS_PER_KEY} sessions, the most one client may`);
    expect(over.busy!.retryAfterMs).toBeGreaterThan(0);
    expect(over.entrant.refusedFor).toBe("client-limit");
    admission.closed(over.entrant);
    // a handshake under way holds a slot too
    admission.closed(own[0]!);
    const handshaking = hello("ed25519:greedy");
    expect(handshaking.busy).toBeNull();
    expect(hello("ed25519:greedy").busy?.reason).toContain("already holds");
    expect(hello("ed25519:modest").busy).toBeNull();
    expect(admission.counts()).toMatchObject({ sessions: SLOTS_PER_KEY - 1, admitted: 2, waiting: 0 });
    admission.closed(handshaking.entrant);
    expect(hello("ed25519:greedy").busy).toBeNull();
  });

  test("a ticket whose client does not come back lapses and holds up no one", () => {
    const { admission, session, hello, advance } = setup(1);
    const holder = session("ed25519:holder");
    expect(hello("ed25519:gone").busy).not.toBeNull();
    expect(hello("ed25519:patient").busy).not.toBeNull();
    admission.closed(holder);
    advance(RETRY_HINT_MS.max + 10_000);
    expect(hello("ed25519:patient").busy).toBeNull();
    expect(admission.counts().waiting).toBe(0);
  });

  test("the hint follows how long sessions last", () => {
    const { admission, session, hello, advance } = setup(1);
    const hintAfter = (sessionMs: number) => {
      for (let i = 0; i < 30; i++) {
        const s = session(`ed25519:s${i}`);
        advance(sessionMs);
        admission.closed(s);
      }
      const holder = session("ed25519:holder");
      const asked = hello("ed25519:asker");
      admission.closed(asked.entrant);
      admission.closed(holder);
      advance(RETRY_HINT_MS.max + 10_000);
      return asked.busy!.retryAfterMs;
    };
    const short = hintAfter(1_000);
    const long = hintAfter(20_000);
    // Half the estimated wait (one session's length for the first in line at a single slot).
    expect(short).toBeGreaterThanOrEqual(400);
    expect(short).toBeLessThanOrEqual(600);
    expect(long).toBeGreaterThan(8_000);
  });
});

describe("costly handshakes", () => {
  test("one key starts at most 2 handshakes at once", () => {
    const { hello } = setup(64);
    expect(hello("ed25519:a").busy).toBeNull();
    expect(hello("ed25519:a").busy).toBeNull();
    const third = hello("ed25519:a");
    expect(third.busy?.reason).toContain("handshakes of this key under way");
    expect(third.entrant.refusedFor).toBe("rate-limited");
    expect(hello("ed25519:b").busy).toBeNull();
  });

  test("a key claimed from one address over and over is slowed there, not elsewhere", () => {
    const { admission, hello, advance } = setup(64);
    let admitted = 0;
    for (let i = 0; i < 100; i++) {
      const attempt = hello("ed25519:victim", "203.0.113.9");
      if (attempt.busy === null) admitted++;
      else expect(attempt.entrant.refusedFor).toBe("rate-limited");
      admission.closed(attempt.entrant); // the stranger cannot sign: its handshake ends
    }
    expect(admitted).toBe(20);
    expect(hello("ed25519:victim", "192.0.2.1").busy).toBeNull();
    advance(1_000);
    expect(hello("ed25519:victim", "203.0.113.9").busy).toBeNull();
  });

  test("the whole server starts at most its budget of costly handshakes in a burst", () => {
    const { admission, hello } = setup(100_000);
    let admitted = 0;
    for (let i = 0; i < 800; i++) {
      const attempt = hello(`ed25519:key${i}`, `10.1.${i >> 8}.${i & 255}`);
      if (attempt.busy === null) admitted++;
      admission.closed(attempt.entrant);
    }
    expect(admitted).toBe(64);
  });
});
