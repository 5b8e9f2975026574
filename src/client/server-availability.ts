// The probe-viewer's memory: is the server Up or Down, since when, why; transitions are logged once.
import type { HashRelayError } from "../errors.ts";
import type { DownKind } from "../daemon/status-line.ts";
import type { Logger } from "../io/log.ts";

/** Why a probe failed, as a stable word for status, metrics and tests. */

export interface ServerAvailability {
  server: "up" | "down";
  /** "host:port" probed: a record about another address (the config moved the client) is not carried over. */
  address?: string;
  /** ISO time of the last Up/Down transition (or of the first probe). */
  since: string;
  kind?: DownKind;
  reason?: string;
}

/**
 * Turns a failed probe into its kind and a one-line reason that says what happened:
 * "connection refused (host:port)", "timeout: ...", "unauthorized: ...".
 */
export function classifyDown(error: HashRelayError): { kind: DownKind; reason: string } {
  const message = error.message;
  switch (error.code) {
    case "UNAUTHORIZED":
    case "VERSION":
      return { kind: "unauthorized", reason: `unauthorized: ${message}` };
    case "TIMEOUT":
      return {
        kind: "timeout",
        reason: `timeout: ${message.replace(/^peer /, "server ")} (it accepted the connection but did not answer)`,
      };
    case "CLOSED":
      return { kind: "closed", reason: `closed: ${message}` };
    case "BUSY":
      return { kind: "busy", reason: `busy: ${message}` };
    case "SERVER_DOWN":
      if (/refused/.test(message)) return { kind: "refused", reason: message };
      if (/^timeout/.test(message)) return { kind: "timeout", reason: message };
      return { kind: "unreachable", reason: message };
    default:
      return { kind: "error", reason: `${error.code}: ${message}` };
  }
}

/** Reads the availability out of the last tick record, if it has one. */
export function availabilityOf(
  record: { at: string; server: "up" | "down"; address?: string; since?: string; kind?: DownKind; reason?: string } | null,
): ServerAvailability | null {
  if (!record) return null;
  return { server: record.server, address: record.address, since: record.since ?? record.at, kind: record.kind, reason: record.reason };
}

/** Follows the probes of one tick, starting from what the previous tick recorded; logs each Up/Down change once. */
export class ServerWatch {
  private state: ServerAvailability | null;

  constructor(
    previous: ServerAvailability | null,
    private readonly log: Logger,
    private readonly now: () => Date,
    /** "host:port" probed, for the log lines and the record. */
    private readonly where: string,
  ) {
    this.state = previous && (previous.address === undefined || previous.address === where) ? previous : null;
  }

  get current(): ServerAvailability | null {
    return this.state;
  }

  up(): void {
    const before = this.state;
    if (before?.server === "up") return;
    this.state = { server: "up", address: this.where, since: this.now().toISOString() };
    this.log.log("info", `server ${this.where} is Up${before ? ` (was Down since ${before.since})` : ""}`, { server: "up" });
  }

  down(kind: DownKind, reason: string): void {
    const before = this.state;
    if (before?.server === "down") {
      this.state = { ...before, kind, reason };
      return;
    }
    this.state = { server: "down", address: this.where, since: this.now().toISOString(), kind, reason };
    const state = kind === "busy" ? "Busy" : "Down";
    this.log.log("warn", `server ${this.where} is ${state}: ${reason}${before ? ` (was Up since ${before.since})` : ""}`, {
      server: "down",
      kind,
    });
  }
}
