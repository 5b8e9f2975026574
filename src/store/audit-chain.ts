// The audit log's hash chain: what a line holds, the chain rule, and a checker you push the log's bytes into (pure: no files).
//
// One JSON object per line: {"seq":N,"at":ISO,"event":...,<details>,"prev":HEX}. seq counts from 1;
// prev is the SHA-256 (hex) of the previous line's exact bytes without its newline; line 1's prev is
// 64 zeros. Editing a line changes its hash, so the next line's prev no longer matches; deleting or
// moving a line breaks the seq count. The last line has no successor: an anchor (the head file, or a
// SEQ:HASH the admin kept elsewhere) names the hash it must have.
import { createHash } from "node:crypto";
import { SHA256_HEX } from "../protocol/constants.ts";
import type { FileDigest } from "../protocol/file-digest.ts";

export const GENESIS = "0".repeat(64);
/** A longer line is not one we wrote (ours are a few hundred bytes): it is refused before it is buffered whole. */
export const AUDIT_LINE_MAX = 64 * 1024;

/** What the store records. `file` is always the archive the event is about. */
export type AuditEvent =
  | ({ event: "accept"; client: string; name: string; file: string; archiveId: string; size: number } & FileDigest)
  | { event: "supersede"; client: string; name: string; file: string; replacedBy: string }
  | { event: "trash"; client: string; name: string; file: string; item: string; replacedBy: string }
  | { event: "purge"; client: string; item: string; trashedAt: string }
  /** A suspect replacement: `file` is the archive kept, `suspect` the new one held back (or let through by release). */
  | { event: "hold" | "release"; client: string; name: string; file: string; suspect: string; reason: string }
  /** A stored archive found damaged (by a scrub, `server verify`, or a commit reusing a member): `members` wrong, the first described. */
  | { event: "damaged"; client: string; name: string; file: string; by: string; members: number; first: string };

/** What the log writer records about itself: a torn last line moved aside, a head file that did not match the log. */
export interface RecoveredEvent {
  event: "recovered";
  reason: string;
  /** The file (beside the log) the torn bytes were moved to, and how many there were. */
  torn?: string;
  bytes?: number;
  /** The head file's content when it did not match. */
  head?: string;
}

export type AuditEntry = (AuditEvent | RecoveredEvent) & { seq: number; at: string; prev: string };

/** The last line of a chain (seq 0 and GENESIS for an empty one): what the head file and `--expect` hold. */
export interface ChainHead {
  seq: number;
  hash: string;
}

/** Hex SHA-256 of a line's bytes (without its newline). */
export function lineHash(line: Uint8Array | string): string {
  return createHash("sha256").update(line).digest("hex");
}

/** Line `seq` of the chain (no newline): seq and at first, prev last. */
export function formatAuditLine(seq: number, atMs: number, event: AuditEvent | RecoveredEvent, prev: string): string {
  return JSON.stringify({ seq, at: new Date(atMs).toISOString(), ...event, prev });
}

/** "SEQ:HASH". */
export function formatHead(head: ChainHead): string {
  return `${head.seq}:${head.hash}`;
}

/** Parses "SEQ:HASH" (surrounding white space allowed), or null. */
export function parseHead(text: string): ChainHead | null {
  const match = /^(\d{1,15}):([0-9a-f]{64})$/.exec(text.trim());
  return match ? { seq: Number(match[1]), hash: match[2]! } : null;
}

/** One line as an entry, or a sentence saying why it is not one. */
export function parseAuditLine(line: Uint8Array): AuditEntry | string {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(line));
  } catch {
    return "it is not JSON";
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "it is not a JSON object";
  const { seq, at, event, prev } = value as Record<string, unknown>;
  if (!Number.isSafeInteger(seq) || (seq as number) < 1) return "its seq is not a whole number ≥ 1";
  if (typeof at !== "string" || !Number.isFinite(Date.parse(at))) return "its at is not a time";
  if (typeof event !== "string") return "it has no event";
  if (typeof prev !== "string" || !SHA256_HEX.test(prev)) return "its prev is not 64 hex digits";
  return value as AuditEntry;
}

/** Cuts a byte stream into lines (without their newline). Push chunks in order; `rest()` is what follows the last newline. */
export class LineSplitter {
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;

  /** The whole lines this chunk completes. Throws RangeError when a line grows past `max` bytes. */
  push(chunk: Uint8Array, max = AUDIT_LINE_MAX): Uint8Array[] {
    const lines: Uint8Array[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
      lines.push(this.take(chunk.subarray(start, nl), max));
      start = nl + 1;
    }
    if (start < chunk.length) {
      this.pendingBytes += chunk.length - start;
      if (this.pendingBytes > max) throw new RangeError(`a line is longer than ${max} bytes`);
      this.pending.push(chunk.slice(start));
    }
    return lines;
  }

  /** The bytes after the last newline (a line cut short), empty when the stream ended with a newline. */
  rest(): Uint8Array {
    return Buffer.concat(this.pending);
  }

  private take(tail: Uint8Array, max: number): Uint8Array {
    if (this.pending.length === 0) {
      if (tail.length > max) throw new RangeError(`a line is longer than ${max} bytes`);
      return tail;
    }
    const line = Buffer.concat([...this.pending, tail]);
    this.pending = [];
    this.pendingBytes = 0;
    if (line.length > max) throw new RangeError(`a line is longer than ${max} bytes`);
    return line;
  }
}

/** A hash a given line must have, and who says so ("the head file", "--expect"). */
export interface ChainAnchor extends ChainHead {
  source: string;
}

/** The first problem found: the 1-based line number and what is wrong, in words. */
export interface ChainProblem {
  line: number;
  problem: string;
}

export type ChainReport = { ok: true; lines: number; head: ChainHead; recovered: number[] } | ({ ok: false; lines: number } & ChainProblem);

/**
 * Walks a log pushed to it in chunks and stops at the first problem: a line that is not an entry, a
 * seq that is not its line number, a prev that is not the previous line's hash, a line that does not
 * have an anchor's hash, a last line without its newline, an anchor past the end. `recovered` lists the
 * lines where the writer recorded a recovery (they are part of an intact chain, and worth a look).
 */
export class ChainWalker {
  private readonly splitter = new LineSplitter();
  private readonly anchors: ChainAnchor[];
  private count = 0;
  private last: ChainHead = { seq: 0, hash: GENESIS };
  private readonly recovered: number[] = [];
  private problem: ChainProblem | null = null;

  constructor(anchors: readonly ChainAnchor[] = []) {
    this.anchors = [...anchors];
    for (const anchor of this.anchors) {
      if (anchor.seq === 0 && anchor.hash !== GENESIS) this.fail(0, `${anchor.source} names line 0 with a hash other than 64 zeros`);
    }
  }

  /** Feeds the next bytes of the log. Returns the first problem once there is one (later bytes are ignored). */
  push(chunk: Uint8Array): ChainProblem | null {
    if (this.problem) return this.problem;
    let lines: Uint8Array[];
    try {
      lines = this.splitter.push(chunk);
    } catch {
      return this.fail(this.count + 1, `line ${this.count + 1} is longer than ${AUDIT_LINE_MAX} bytes: not a line the server wrote`);
    }
    for (const line of lines) if (this.line(line)) break;
    return this.problem;
  }

  /** The log has ended: the verdict. */
  end(): ChainReport {
    if (!this.problem && this.splitter.rest().length > 0) {
      this.fail(
        this.count + 1,
        `line ${this.count + 1} has no newline at its end: the server stopped while writing it (its next start moves it aside) or the file was cut or edited`,
      );
    }
    if (!this.problem) {
      const beyond = this.anchors.filter((a) => a.seq > this.count).sort((a, b) => b.seq - a.seq)[0];
      if (beyond)
        this.fail(
          this.count + 1,
          `the log ends at line ${this.count} but ${beyond.source} names line ${beyond.seq}: lines ${this.count + 1}–${beyond.seq} were cut off`,
        );
    }
    if (this.problem) return { ok: false, lines: this.count, ...this.problem };
    return { ok: true, lines: this.count, head: { ...this.last }, recovered: [...this.recovered] };
  }

  /** Checks one whole line; true when it is bad. */
  private line(bytes: Uint8Array): boolean {
    const n = this.count + 1;
    const entry = parseAuditLine(bytes);
    if (typeof entry === "string")
      return this.flag(n, `line ${n} is not an audit record (${entry}): it was edited or is not from this log`);
    if (entry.seq !== n)
      return this.flag(
        n,
        `line ${n} has seq ${entry.seq}, expected ${n}: a line was deleted, inserted or moved before it, or its seq was edited`,
      );
    if (entry.prev !== this.last.hash) {
      return this.flag(
        n,
        n === 1
          ? "line 1's prev is not 64 zeros: line 1 was edited or the start of the log was cut off"
          : `line ${n}'s prev is not the hash of line ${n - 1}: line ${n - 1} was edited, or a line was deleted before line ${n}`,
      );
    }
    const hash = lineHash(bytes);
    for (const anchor of this.anchors) {
      if (anchor.seq === n && anchor.hash !== hash)
        return this.flag(
          n,
          `line ${n} does not have the hash ${anchor.source} names (${anchor.hash.slice(0, 16)}…): line ${n} was edited, or the log was rewritten from it on`,
        );
    }
    if (entry.event === "recovered") this.recovered.push(n);
    this.count = n;
    this.last = { seq: n, hash };
    return false;
  }

  private flag(line: number, problem: string): true {
    this.fail(line, problem);
    return true;
  }

  private fail(line: number, problem: string): ChainProblem {
    this.problem ??= { line, problem };
    return this.problem;
  }
}

/** Checks a whole log held in memory against its anchors. */
export function checkChain(bytes: Uint8Array, anchors: readonly ChainAnchor[] = []): ChainReport {
  const walker = new ChainWalker(anchors);
  walker.push(bytes);
  return walker.end();
}
