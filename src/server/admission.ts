// Pure: which connections the server keeps before they authenticate, which may start a handshake, and why the rest are refused.
//
// Three stages, each with its own bounds, so that strangers cannot take capacity from listed clients:
// - fresh (accepted, no complete HELLO yet): at most FRESH.perAddress per source address and
//   FRESH.total in all; a newcomer over a bound evicts the oldest fresh connection (of its address, else
//   of all), told BUSY. A fresh connection never evicts one that made more progress.
// - admitted (a listed key's HELLO was answered, its AUTH is awaited): holds a session slot; at most
//   ADMITTED_PER_KEY per key; each admission spends a token of its key and address and one of the
//   server's (the only costly work a stranger can cause: one key agreement and one signature).
// - session: authenticated. Sessions and admitted handshakes together never exceed the capacity
//   (server.limits.maxConnections), nor SLOTS_PER_KEY for one key; who gets a freed slot is the
//   slot queue's call (slot-queue.ts).
import type { BusyRefusal } from "../protocol/handshake.ts";
import { SlotQueue } from "./slot-queue.ts";
import { TokenBucket } from "./token-bucket.ts";

/** Why a connection ended before it became a session: one word each, for the log and the metrics. */
export type RefusalCause =
  | "busy"
  | "evicted"
  | "rate-limited"
  | "client-limit"
  | "hello-timeout"
  | "auth-timeout"
  | "unauthorized"
  | "bad-frame"
  | "version"
  | "too-large"
  | "closed"
  | "error";

/** Connections without a complete HELLO: per source address, and in all. */
export const FRESH = { perAddress: 1024, total: 4096 } as const;
/** How long a connection may take to deliver its complete HELLO (the rest of the handshake has server.limits.handshakeTimeout). */
export const HELLO_TIMEOUT_MS = 5_000;
/** Handshakes of one key past its HELLO at once (a client needs one; a second for a concurrent command). */
const ADMITTED_PER_KEY = 2;
/**
 * Slots (sessions and handshakes past HELLO) one key holds at once: a tick needs one, a restore or
 * `list` beside it another; more would only let one client, compromised or misconfigured, take the
 * slots of all the others.
 */
export const SLOTS_PER_KEY = 4;
/** The hint to a key at SLOTS_PER_KEY: one of its own sessions has to end first. */
const OWN_SLOTS_RETRY_MS = 5_000;
/**
 * Costly handshakes (past HELLO) per key and source address, and for the whole server: burst, then per second.
 * A server handshake costs ~9 ms of CPU in tweetnacl (the user's choice of Ed25519/X25519 library): 50 a
 * second is under half a core, even from strangers replaying every listed public key; 500 clients that
 * take turns on 64 slots start a handshake every few hundred ms.
 */
const KEY_BUDGET = { burst: 20, perSecond: 2 } as const;
const SERVER_BUDGET = { burst: 64, perSecond: 50 } as const;
/** The hint an evicted connection is given: a real client comes back, at once would only evict again. */
const EVICTED_RETRY_MS = 1_000;

/** One accepted connection as admission sees it. */
export interface Entrant {
  readonly address: string;
  stage: "fresh" | "admitted" | "session" | "gone";
  /** The listed key it claimed, once admitted. */
  key: string | null;
  /** When it became a session (ms). */
  sessionSince: number;
  /** Why admission refused or cut it, when it did. */
  refusedFor: RefusalCause | null;
  /** Closes it with this BUSY (set by the caller; admission calls it when it evicts). */
  readonly cut: (busy: BusyRefusal) => void;
}

/** What the server holds now, for status and metrics. */
export interface AdmissionCounts {
  fresh: number;
  admitted: number;
  sessions: number;
  waiting: number;
}

export class Admission {
  private readonly fresh = new Set<Entrant>();
  private readonly freshByAddress = new Map<string, Set<Entrant>>();
  private readonly admittedByKey = new Map<string, number>();
  /** Slots held per key: admitted handshakes and sessions. */
  private readonly slotsByKey = new Map<string, number>();
  private admitted = 0;
  private sessions = 0;
  private readonly queue: SlotQueue;
  private readonly budgets = new Map<string, TokenBucket>();
  private readonly serverBudget: TokenBucket;

  constructor(
    private capacity: number,
    private readonly now: () => number,
  ) {
    this.queue = new SlotQueue(capacity);
    this.serverBudget = new TokenBucket(SERVER_BUDGET.burst, SERVER_BUDGET.perSecond, now());
  }

  /** A reload changed server.limits.maxConnections: sessions over a lower cap finish; new ones wait. */
  setCapacity(capacity: number): void {
    this.capacity = capacity;
    this.queue.setCapacity(capacity);
  }

  counts(): AdmissionCounts {
    return { fresh: this.fresh.size, admitted: this.admitted, sessions: this.sessions, waiting: this.queue.waiting };
  }

  /** A connection was accepted from `address`: it joins the fresh ones, evicting the oldest over a bound. */
  connected(address: string, cut: (busy: BusyRefusal) => void): Entrant {
    const entrant: Entrant = { address, stage: "fresh", key: null, sessionSince: 0, refusedFor: null, cut };
    const sameAddress = this.freshByAddress.get(address);
    if (sameAddress && sameAddress.size >= FRESH.perAddress) this.evict(first(sameAddress));
    else if (this.fresh.size >= FRESH.total) this.evict(first(this.fresh));
    this.fresh.add(entrant);
    if (sameAddress) sameAddress.add(entrant);
    else this.freshByAddress.set(address, new Set([entrant]));
    return entrant;
  }

  /**
   * `entrant` presented the listed key `key` in its HELLO: null admits it (it takes a slot; the handshake
   * goes on), else the BUSY to answer (it stays fresh until it closes). Only a fresh entrant is admitted.
   */
  hello(entrant: Entrant, key: string): BusyRefusal | null {
    if (entrant.stage !== "fresh") return { reason: "server busy", retryAfterMs: EVICTED_RETRY_MS };
    const refusal = this.refusalFor(entrant, key);
    if (refusal) return refusal;
    this.leaveFresh(entrant);
    entrant.stage = "admitted";
    entrant.key = key;
    this.admitted++;
    this.admittedByKey.set(key, (this.admittedByKey.get(key) ?? 0) + 1);
    this.slotsByKey.set(key, (this.slotsByKey.get(key) ?? 0) + 1);
    return null;
  }

  /** An admitted entrant authenticated: its slot now holds a session. */
  authenticated(entrant: Entrant): void {
    if (entrant.stage !== "admitted") return;
    this.leaveAdmitted(entrant);
    entrant.stage = "session";
    entrant.sessionSince = this.now();
    this.sessions++;
  }

  /** The connection is gone, whatever its stage: its place or slot is free. Safe to call twice. */
  closed(entrant: Entrant): void {
    if (entrant.stage === "fresh") this.leaveFresh(entrant);
    else if (entrant.stage === "admitted") {
      this.leaveAdmitted(entrant);
      decrement(this.slotsByKey, entrant.key!);
    } else if (entrant.stage === "session") {
      this.sessions--;
      decrement(this.slotsByKey, entrant.key!);
      this.queue.sessionEnded(this.now() - entrant.sessionSince);
    }
    entrant.stage = "gone";
  }

  /** Why a listed key may not start its costly handshake now; admitting it spends its tokens (a refusal spends nothing). */
  private refusalFor(entrant: Entrant, key: string): BusyRefusal | null {
    const now = this.now();
    const held = this.slotsByKey.get(key) ?? 0;
    if (held >= SLOTS_PER_KEY) {
      entrant.refusedFor = "client-limit";
      return {
        reason: `server busy: this client already holds ${held} sessions, the most one client may`,
        retryAfterMs: OWN_SLOTS_RETRY_MS,
      };
    }
    if ((this.admittedByKey.get(key) ?? 0) >= ADMITTED_PER_KEY) {
      entrant.refusedFor = "rate-limited";
      return { reason: `server busy: ${ADMITTED_PER_KEY} handshakes of this key under way`, retryAfterMs: EVICTED_RETRY_MS };
    }
    const budget = this.budgetOf(`${key} ${entrant.address}`, now);
    const wait = Math.max(budget.waitMs(now), this.serverBudget.waitMs(now));
    if (wait > 0) {
      entrant.refusedFor = "rate-limited";
      return { reason: "server busy: too many handshakes", retryAfterMs: Math.max(wait, EVICTED_RETRY_MS) };
    }
    const slot = this.queue.ask(key, this.sessions + this.admitted, now);
    if (!slot.admitted) {
      entrant.refusedFor = "busy";
      return {
        reason: `server busy: ${this.sessions} sessions open; this client is number ${slot.place} of ${slot.waiting} waiting`,
        retryAfterMs: slot.retryAfterMs,
      };
    }
    budget.take(now);
    this.serverBudget.take(now);
    return null;
  }

  /** The budget of a key at an address; budgets back at their burst are dropped now and then, so that addresses do not pile up. */
  private budgetOf(id: string, now: number): TokenBucket {
    let budget = this.budgets.get(id);
    if (budget) return budget;
    if (this.budgets.size >= 1024) for (const [other, b] of this.budgets) if (b.full(now)) this.budgets.delete(other);
    budget = new TokenBucket(KEY_BUDGET.burst, KEY_BUDGET.perSecond, now);
    this.budgets.set(id, budget);
    return budget;
  }

  private evict(entrant: Entrant | undefined): void {
    if (!entrant) return;
    this.leaveFresh(entrant);
    entrant.stage = "gone";
    entrant.refusedFor = "evicted";
    entrant.cut({ reason: "server busy: too many connections without a HELLO", retryAfterMs: EVICTED_RETRY_MS });
  }

  private leaveFresh(entrant: Entrant): void {
    this.fresh.delete(entrant);
    const sameAddress = this.freshByAddress.get(entrant.address);
    sameAddress?.delete(entrant);
    if (sameAddress?.size === 0) this.freshByAddress.delete(entrant.address);
  }

  private leaveAdmitted(entrant: Entrant): void {
    this.admitted--;
    decrement(this.admittedByKey, entrant.key!);
  }
}

/** Decrements `key`'s entry in `counts`, dropping it at zero. */
function decrement(counts: Map<string, number>, key: string): void {
  const left = (counts.get(key) ?? 1) - 1;
  if (left > 0) counts.set(key, left);
  else counts.delete(key);
}

function first<T>(set: Set<T>): T | undefined {
  return set.values().next().value;
}
