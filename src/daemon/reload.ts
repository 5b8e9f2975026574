// Reload = verify, then commit: read, parse, validate, diff, let every part veto, then apply all parts at once.
import { createHash } from "node:crypto";
import { HashRelayError, asHashRelayError } from "../errors.ts";
import { diffConfig, type ConfigDiff } from "../config/config-diff.ts";
import { formatIssue, type Config, type ConfigIssue, type ParseResult } from "../config/parse-config.ts";
import type { Logger } from "../io/log.ts";

/** What a part readied for a new config; nothing of it is visible until commit. */
export interface PreparedChange {
  /** Puts the prepared change in force. Must not fail: anything that can fail belongs in prepare. */
  commit(): void;
  /** Undoes what prepare made (closes a listener it bound...). Called when another part vetoes. Must not throw. */
  abort?(): void | Promise<void>;
}

/** A subsystem that a reload reconfigures (the client's schedule and sources, the server's listener...). */
export interface ReloadPart {
  /** Named in the log when it vetoes. */
  readonly name: string;
  /**
   * Checks that `next` can be applied and readies it without touching what is in force. `prev` is the
   * config in force (null at start-up). Throws to veto, preferably a HashRelayError whose message says
   * why and whose hint says what to do: the whole reload is then refused.
   */
  prepare(next: Config, diff: ConfigDiff, prev: Config | null): PreparedChange | Promise<PreparedChange>;
}

export type ReloadStatus = "applied" | "unchanged" | "invalid" | "vetoed";

export interface ReloadOutcome {
  status: ReloadStatus;
  /** SHA-256 of the text read (null when it could not be read). */
  hash: string | null;
  changes: string[];
  issues: ConfigIssue[];
  /** Why an invalid or vetoed reload was refused. */
  error?: HashRelayError;
}

/** What `status` shows about the config: the one in force, and the last refused one. */
export interface ConfigRecord {
  file: string;
  pid: number;
  /** SHA-256 of the config in force, null before one was applied. */
  hash: string | null;
  appliedAt: string | null;
  lastReload: { at: string; reason: string; status: ReloadStatus } | null;
  /** The last refused reload; cleared once the file on disk is the config in force again. */
  lastError: { at: string; hash: string | null; message: string; hint: string; issues: ConfigIssue[] } | null;
}

export interface ReloaderOptions {
  file: string;
  /** The file's text; throws (ENOENT, EACCES...) when it cannot be read. */
  read: () => string;
  parse: (text: string) => ParseResult;
  parts: ReloadPart[];
  /** The logger to use now (it may change with the config, e.g. client.state). */
  log: () => Logger;
  now?: () => Date;
  /** Told the record after each reload that changed it; awaited, its errors are logged. */
  onRecord?: (record: ConfigRecord, inForce: Config | null) => void | Promise<void>;
}

/**
 * Owns the config in force. Reloads run one at a time; requests made while one runs are merged into
 * the next. An invalid or vetoed config leaves everything in force untouched and is logged with
 * every error; start-up is the first reload, from nothing.
 */
export class ConfigReloader {
  private inForce: Config | null = null;
  private appliedAt: Date | null = null;
  private refusedHash: string | null = null;
  private lastReload: ConfigRecord["lastReload"] = null;
  private lastError: ConfigRecord["lastError"] = null;
  private running = false;
  private queued: { reasons: string[]; force: boolean; waiters: ((o: ReloadOutcome) => void)[] } | null = null;
  private readonly now: () => Date;

  constructor(private readonly opts: ReloaderOptions) {
    this.now = opts.now ?? (() => new Date());
  }

  get current(): Config | null {
    return this.inForce;
  }

  get record(): ConfigRecord {
    return {
      file: this.opts.file,
      pid: process.pid,
      hash: this.inForce?.hash ?? null,
      appliedAt: this.appliedAt?.toISOString() ?? null,
      lastReload: this.lastReload,
      lastError: this.lastError,
    };
  }

  /**
   * Reloads now, or after the reload running now. Without `force`, a text whose hash is the config in
   * force (or the last refused one) is "unchanged" and nothing runs; with it (SIGHUP), every part
   * prepares and commits again (key files are read again). Never throws.
   */
  request(reason: string, force = false): Promise<ReloadOutcome> {
    return new Promise((resolve) => {
      this.queued ??= { reasons: [], force: false, waiters: [] };
      if (!this.queued.reasons.includes(reason)) this.queued.reasons.push(reason);
      this.queued.force ||= force;
      this.queued.waiters.push(resolve);
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    while (this.queued) {
      const job = this.queued;
      this.queued = null;
      let outcome: ReloadOutcome;
      try {
        outcome = await this.reloadOnce(job.reasons.join(", "), job.force);
      } catch (err) {
        outcome = { status: "vetoed", hash: null, changes: [], issues: [], error: asHashRelayError(err) };
        this.opts.log().log("error", `config reload failed: ${outcome.error!.describe()}`);
      }
      for (const resolve of job.waiters) resolve(outcome);
    }
    this.running = false;
  }

  private async reloadOnce(reason: string, force: boolean): Promise<ReloadOutcome> {
    const { file } = this.opts;
    let text: string;
    try {
      text = this.opts.read();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      const error = new HashRelayError(
        "CONFIG",
        `cannot read ${file}: ${code}`,
        "check that the file exists and is readable by this agent",
      );
      return this.refuse(reason, null, "invalid", error, []);
    }
    const hash = createHash("sha256").update(text).digest("hex");
    if (!force && hash === this.inForce?.hash) {
      if (this.lastError) {
        this.lastError = null;
        this.refusedHash = null;
        this.opts.log().log("info", `config ${file} is back to the config in force (sha256 ${hash})`);
        await this.publish(reason, "unchanged");
      }
      return { status: "unchanged", hash, changes: [], issues: [] };
    }
    if (!force && hash === this.refusedHash) return { status: "unchanged", hash, changes: [], issues: this.lastError?.issues ?? [] };

    const parsed = this.opts.parse(text);
    if (!parsed.ok) {
      const count = parsed.issues.length;
      const error = new HashRelayError(
        "CONFIG",
        `${count} error${count === 1 ? "" : "s"} in ${file}`,
        "fix them: the agent reloads when the file changes, or on SIGHUP (after fixing a key file)",
      );
      return this.refuse(reason, hash, "invalid", error, parsed.issues);
    }
    const next = parsed.config;
    const diff = diffConfig(this.inForce, next);
    const prepared: PreparedChange[] = [];
    for (const part of this.opts.parts) {
      try {
        prepared.push(await part.prepare(next, diff, this.inForce));
      } catch (err) {
        for (const change of prepared.reverse()) await Promise.resolve(change.abort?.()).catch(() => undefined);
        const cause = asHashRelayError(err);
        const error = new HashRelayError(cause.code, `${part.name} refused the new config: ${cause.message}`, cause.hint, { cause });
        return this.refuse(reason, hash, "vetoed", error, []);
      }
    }
    for (const change of prepared) {
      try {
        change.commit();
      } catch (err) {
        // A commit is written not to fail; if one does, the others still apply and the log says so.
        this.opts.log().log("error", `config commit failed: ${asHashRelayError(err).describe()}`);
      }
    }
    this.inForce = next;
    this.appliedAt = this.now();
    this.refusedHash = null;
    this.lastError = null;
    const changes = diff.changes.length > 0 ? diff.changes : ["no change"];
    this.opts.log().log("info", `config applied (${reason}): ${file} sha256 ${hash}; ${changes.join("; ")}`, { config: hash.slice(0, 12) });
    await this.publish(reason, "applied");
    return { status: "applied", hash, changes: diff.changes, issues: [] };
  }

  private async refuse(
    reason: string,
    hash: string | null,
    status: "invalid" | "vetoed",
    error: HashRelayError,
    issues: ConfigIssue[],
  ): Promise<ReloadOutcome> {
    const log = this.opts.log();
    const kept = this.inForce ? `still running on sha256 ${this.inForce.hash}` : "no config in force";
    log.log("error", `config not applied (${reason}): ${error.describe()}; ${kept}`);
    // At start-up the caller reports the issues as it exits (startFailure); later, only the log can.
    if (this.inForce) for (const issue of issues) log.log("error", formatIssue(issue));
    this.refusedHash = hash;
    this.lastError = { at: this.now().toISOString(), hash, message: error.message, hint: error.hint, issues };
    await this.publish(reason, status);
    return { status, hash, changes: [], issues, error };
  }

  private async publish(reason: string, status: ReloadStatus): Promise<void> {
    this.lastReload = { at: this.now().toISOString(), reason, status };
    if (!this.opts.onRecord) return;
    try {
      await this.opts.onRecord(this.record, this.inForce);
    } catch (err) {
      this.opts.log().log("warn", `cannot record the config state: ${asHashRelayError(err).message}`);
    }
  }
}

/** The error a daemon exits with when its first reload did not apply: every issue line, or the veto. */
export function startFailure(outcome: ReloadOutcome): HashRelayError {
  if (outcome.issues.length > 0) return new HashRelayError("CONFIG", outcome.issues.map(formatIssue).join("\n"), "");
  return outcome.error ?? new HashRelayError("INTERNAL", "the config was not applied");
}
