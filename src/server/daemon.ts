// The server process: listener, admission of connections, sessions, trash purge, and what a config reload changes live.
import type net from "node:net";
import { HashRelayError, type ErrorCode, type WireErrorCode } from "../errors.ts";
import { MAX_CONNECTIONS } from "../protocol/constants.ts";
import { busyFrame } from "../protocol/messages.ts";
import { formatPublicKey, type Identity } from "../protocol/identity.ts";
import type { ConfigDiff } from "../config/config-diff.ts";
import type { Config, ServerConfig } from "../config/parse-config.ts";
import { Store } from "../store/store.ts";
import { AuditLog } from "../store/audit-log.ts";
import { connectBucket } from "../store/bucket-archives.ts";
import { BucketAudit } from "../store/bucket-audit.ts";
import { startDiscoveryResponder, type DiscoveryResponder } from "../session/discovery.ts";
import { FramedSocket, listenTcp, type TcpListener } from "../io/framed-socket.ts";
import { loadKeyFile } from "../io/key-file.ts";
import type { Level, LogFields, Logger } from "../io/log.ts";
import { ClientConfigs } from "../daemon/config-record.ts";
import type { PreparedChange, ReloadPart } from "../daemon/reload.ts";
import { serveConnection, type SessionEvents } from "./session.ts";
import { Admission, HELLO_TIMEOUT_MS, type AdmissionCounts, type Entrant, type RefusalCause } from "./admission.ts";
import { RefusalLog } from "./refusal-log.ts";
import { StreamGrants } from "./stream-grants.ts";
import { CommitGate } from "./commit-gate.ts";
import { ScrubTimer } from "./scrub-timer.ts";

const PURGE_EVERY_MS = 60_000;
/**
 * Archives assembled at once, whatever server.limits.maxConnections: each assembly holds read buffers
 * of up to 12 MiB (store/assemble.ts), and 64 at once on 2 cores finish no sooner than 4.
 */
const COMMITS_AT_ONCE = 4;
/** Refused connections beyond the first of each cause and address are summed in one log line per address this often. */
const REFUSAL_SUMMARY_MS = 60_000;
/** How often `hashrelay release` requests (files under <storage>/.holds) are looked for; the command waits up to 15 s. */
const RELEASE_POLL_MS = 2_000;

export interface RunningServer {
  port: number;
  store: Store;
  /** Connections by stage and clients waiting for a slot, now. */
  admissionCounts(): AdmissionCounts;
  close(): Promise<void>;
}

/** What the daemon tells its service (metrics, STATUS=) besides what sessions tell. */
export type ServerEvents = SessionEvents & {
  sessionClosed?(): void;
  /** A connection ended before it became a session (server/admission.ts says why). */
  connectionRefused?(cause: RefusalCause): void;
};

interface OpenSession {
  client: string;
  key: string;
  end: (code: WireErrorCode, reason: string) => void;
}

/**
 * Serves clients under the server section in force. Its reload part (`part`) readies a new config
 * without touching the one in force (opens storage at start, loads the key, binds a new listener when
 * listen or port changed) and vetoes what it cannot do live (moving storage); commit then swaps the
 * client list (ending sessions of removed or re-keyed clients with UNAUTHORIZED), limits, retention and
 * identity, and closes the old listener after the new one is up. Sessions already open keep the
 * identity and limits they started with.
 */
export class ServerDaemon implements RunningServer {
  private identity: Identity | null = null;
  private storeInForce: Store | null = null;
  private server: ServerConfig | null = null;
  private clientsByKey = new Map<string, string>();
  private listener: TcpListener | null = null;
  private listenAddress = "";
  private readonly open = new Set<OpenSession>();
  /** Who may start a handshake and hold a session (server/admission.ts); its capacity follows server.limits. */
  private readonly admission = new Admission(MAX_CONNECTIONS, () => Date.now());
  private readonly refusals: RefusalLog;
  private readonly commits = new CommitGate(COMMITS_AT_ONCE);
  /** Uploads streaming at once (server.limits.streams, PROTOCOL.md §8.10), shared by every session. */
  private readonly streams = new StreamGrants();
  private refusalTimer: ReturnType<typeof setInterval> | null = null;
  private purgeTimer: ReturnType<typeof setInterval> | null = null;
  private releaseTimer: ReturnType<typeof setInterval> | null = null;
  /** LAN discovery (`client.server: auto`): answers on the UDP port equal to the TCP port, follows the listener and the identity. */
  private discovery: Promise<DiscoveryResponder | null> = Promise.resolve(null);
  private clientConfigs: ClientConfigs | null = null;
  /** <storage>/.audit/audit.log: the store appends accept, supersede, hold, release, trash, purge and damaged to it. */
  private auditLog: AuditLog | null = null;
  /** On an S3 storage: each audit line copied into the bucket; the purge timer catches up what the store did not take. */
  private bucketAudit: BucketAudit | null = null;
  /** server.scrub: reads a share of the store per step, so that every archive is read once per cycle. */
  private readonly scrubTimer: ScrubTimer;

  constructor(
    private readonly log: Logger,
    /** Told what sessions do, for metrics and `hashrelay status` (src/server/service.ts; the scrub's figures are read from the store). */
    private readonly events?: ServerEvents,
  ) {
    this.refusals = new RefusalLog(log, `${REFUSAL_SUMMARY_MS / 1000} s`);
    this.scrubTimer = new ScrubTimer(log);
  }

  get port(): number {
    return this.listener?.port ?? 0;
  }

  get store(): Store {
    if (!this.storeInForce) throw new HashRelayError("INTERNAL", "the server has no config in force yet");
    return this.storeInForce;
  }

  readonly part: ReloadPart = { name: "server", prepare: (next, diff, prev) => this.prepare(next, diff, prev) };

  private async prepare(next: Config, diff: ConfigDiff, prev: Config | null): Promise<PreparedChange> {
    const server = next.server;
    if (!server)
      throw new HashRelayError("CONFIG", `${next.file} has no server section`, "keep the server: section in the file this server runs on");
    if (this.storeInForce && prev?.server && diff.server?.storage) {
      throw new HashRelayError(
        "CONFIG",
        `server.storage cannot move while the server runs (${prev.server.storage} → ${server.storage})`,
        "restart the server to use the new storage",
      );
    }
    const identity = loadKeyFile(server.key);
    const store = this.storeInForce ?? (await this.openStore(server));
    const address = `${server.listen.includes(":") ? `[${server.listen}]` : server.listen}:${next.port}`;
    let listener: TcpListener | null = null;
    if (!this.listener || address !== this.listenAddress) {
      try {
        listener = await listenTcp(server.listen, next.port, (socket) => this.onConnection(socket));
      } catch (err) {
        const reason = err instanceof HashRelayError ? err.message : String(err);
        const hint = this.listener
          ? `still listening on ${this.listenAddress}; free that address and send SIGHUP, or choose another`
          : "choose a free port or address";
        throw new HashRelayError("CONFIG", reason, hint, { cause: err });
      }
    }
    return {
      commit: () => this.commit(server, identity, store, listener, address),
      abort: () => {
        void listener?.close();
      },
    };
  }

  /** Opens the store; with an S3 storage, reaches the bucket first (KEY or CONFIG, exit 2, when it cannot). */
  private async openStore({ storage, bucket: config }: ServerConfig): Promise<Store> {
    const log = (level: Level, message: string, fields: LogFields) => this.log.log(level, message, fields);
    const bucket = config && (await connectBucket(config, process.env));
    if (bucket) this.log.log("info", `object store ${config.url} at ${bucket.s3.target.endpoint}: reachable; cache ${storage}`);
    const store = await Store.open(storage, { log, audit: (event) => this.auditLog?.append(event), ...(bucket ? { bucket } : {}) });
    await bucket?.leases.useServerIdOf(storage); // its own leases a crash left in force are free again
    const copy = bucket ? await BucketAudit.open(bucket, storage, log) : null;
    this.bucketAudit = copy;
    this.auditLog = await AuditLog.open(storage, { log, ...(copy ? { appended: (line) => copy.appended(line) } : {}) });
    return store;
  }

  private commit(server: ServerConfig, identity: Identity, store: Store, listener: TcpListener | null, address: string): void {
    const first = this.server === null;
    const identityChanged = this.identity !== identity;
    this.identity = identity;
    this.storeInForce = store;
    this.server = server;
    store.setRetention({ keep: server.retention.keep, trashForMs: server.retention.trashForMs, suspect: server.retention.suspect });
    this.admission.setCapacity(server.limits.maxConnections);
    this.streams.setLimit(server.limits.streams);
    const quotas = server.clients.flatMap((c) => (c.quotaBytes === null ? [] : [[c.name, c.quotaBytes] as const]));
    store.setSpaceRules({ minFreeBytes: server.minFreeBytes, quotas: new Map(quotas) });
    this.clientsByKey = new Map(server.clients.map((c) => [formatPublicKey(c.key), c.name]));
    this.scrubTimer.set(store, server.scrubCycleMs);
    if (listener || identityChanged || first) {
      const port = (listener ?? this.listener)?.port;
      const previous = this.discovery;
      this.discovery = previous.then(async (responder) => {
        await responder?.close();
        return port === undefined ? null : startDiscoveryResponder({ listen: server.listen, port, identity, tcpPort: port, log: this.log });
      });
    }
    if (listener) {
      const old = this.listener;
      const oldAddress = this.listenAddress;
      this.listener = listener;
      this.listenAddress = address;
      this.log.log(
        "info",
        `listening on ${server.listen}:${listener.port} (identity ${formatPublicKey(identity.publicKey)}, ${server.clients.length} clients, storage ${server.storage})`,
      );
      if (old) {
        this.log.log("info", `stopped listening on ${oldAddress}; sessions opened there finish on it`);
        void old.close();
      }
    }
    for (const session of this.open) {
      const name = this.clientsByKey.get(session.key);
      if (name === session.client) continue;
      const reason = server.clients.some((c) => c.name === session.client)
        ? "the client's key changed in server.clients"
        : "the client was removed from server.clients";
      session.end("UNAUTHORIZED", reason);
    }
    if (first) {
      this.clientConfigs = new ClientConfigs(server.storage);
      void this.purge();
      this.purgeTimer = setInterval(() => void this.purge(), PURGE_EVERY_MS);
      void store.applyReleaseRequests();
      this.releaseTimer = setInterval(() => void store.applyReleaseRequests(), RELEASE_POLL_MS);
      this.refusalTimer = setInterval(() => this.refusals.flush(), REFUSAL_SUMMARY_MS);
    }
  }

  private async purge(): Promise<void> {
    if (!this.storeInForce || !this.server) return;
    await this.bucketAudit?.catchUp();
    try {
      const purged = await this.storeInForce.purgeTrash(this.server.retention.trashForMs);
      for (const item of purged)
        this.log.log("info", `purged ${item.client}/${item.item} (in trash since ${new Date(item.trashedAtMs).toISOString()})`, {
          client: item.client,
        });
    } catch (err) {
      this.log.log("error", `trash purge failed: ${(err as Error).message}`);
    }
  }

  /**
   * Serves one accepted connection: admission tracks it from accept to close (it may cut it for a
   * newcomer while it has sent no HELLO, and refuses its HELLO with BUSY when there is no slot).
   */
  private onConnection(socket: net.Socket): void {
    socket.on("error", () => undefined);
    const { server, identity, storeInForce: store } = this;
    if (!server || !identity || !store) {
      socket.destroy();
      return;
    }
    const connection = new FramedSocket(socket);
    const entrant = this.admission.connected(socket.remoteAddress ?? "?", (busy) => {
      void connection.send(busyFrame(busy.reason, busy.retryAfterMs)).catch(() => undefined);
      connection.close();
    });
    serveConnection(connection, {
      identity,
      store,
      log: this.log,
      now: () => new Date(),
      events: this.events,
      helloTimeoutMs: HELLO_TIMEOUT_MS,
      handshakeTimeoutMs: server.limits.handshakeTimeoutMs,
      idleTimeoutMs: server.limits.idleTimeoutMs,
      authorize: (key) => this.clientsByKey.get(formatPublicKey(key)) ?? null,
      admit: (key) => this.admission.hello(entrant, formatPublicKey(key)),
      refused: (error, remote) => this.refused(entrant, error.code, error.message, remote),
      track: (client, clientKey, end) => {
        this.admission.authenticated(entrant);
        const session: OpenSession = { client, key: formatPublicKey(clientKey), end };
        // A reload may have removed the client while its welcome was on the way.
        if (this.clientsByKey.get(session.key) !== client) end("UNAUTHORIZED", "the client was removed from server.clients");
        this.open.add(session);
        return () => this.open.delete(session);
      },
      onConfigHash: (client, hash) => this.sawConfigHash(client, hash),
      commits: this.commits,
      streams: this.streams,
    }).finally(() => {
      const wasSession = entrant.stage === "session";
      this.admission.closed(entrant);
      if (wasSession) this.events?.sessionClosed?.();
    });
  }

  /** A connection that did not become a session: logged (aggregated) and counted under its cause. */
  private refused(entrant: Entrant, code: ErrorCode, message: string, remote: string): void {
    const cause = entrant.refusedFor ?? causeOf(code, entrant.stage);
    this.refusals.refused(remote, entrant.address, cause, message);
    this.events?.connectionRefused?.(cause);
  }

  admissionCounts(): AdmissionCounts {
    return this.admission.counts();
  }

  /** Attestation: logs and records the config hash a client runs. */
  private sawConfigHash(client: string, hash: string): void {
    const configs = this.clientConfigs;
    if (!configs) return;
    const before = configs.saw(client, hash, new Date(), (err) =>
      this.log.log("warn", `cannot record client config hashes: ${(err as Error).message}`),
    );
    const detail = !before
      ? "first report"
      : before.hash === hash
        ? `unchanged since ${before.since}`
        : `changed from ${before.hash.slice(0, 12)}…`;
    this.log.log("info", `client runs config sha256 ${hash} (${detail})`, { client });
  }

  /** Stops accepting, the purge and scrub timers; resolves once the open sessions have ended. */
  async close(): Promise<void> {
    this.scrubTimer.stop();
    if (this.purgeTimer) clearInterval(this.purgeTimer);
    if (this.releaseTimer) clearInterval(this.releaseTimer);
    if (this.refusalTimer) clearInterval(this.refusalTimer);
    this.refusals.flush();
    await (await this.discovery)?.close();
    await this.clientConfigs?.flushed();
    await this.auditLog?.flushed();
    await this.bucketAudit?.flushed();
    await this.listener?.close();
  }
}

/** The cause of a handshake that failed with `code` at `stage` (admission's own refusals carry theirs). */
function causeOf(code: ErrorCode, stage: Entrant["stage"]): RefusalCause {
  switch (code) {
    case "TIMEOUT":
      return stage === "admitted" ? "auth-timeout" : "hello-timeout";
    case "UNAUTHORIZED":
      return "unauthorized";
    case "BAD_FRAME":
      return "bad-frame";
    case "VERSION":
      return "version";
    case "TOO_LARGE":
      return "too-large";
    case "CLOSED":
      return "closed";
    case "BUSY":
      return "busy";
    default:
      return "error";
  }
}
