// One reconcile pass: probe the server, back up every source on one session, probe again, record the results.
import { EXIT, HashRelayError, asHashRelayError } from "../errors.ts";
import { HANDSHAKE_TIMEOUT_MS, PIPELINED_VERSION } from "../protocol/constants.ts";
import type { Identity } from "../protocol/identity.ts";
import type { HeldArchive, PingMessage } from "../protocol/messages.ts";
import type { Config, SourceConfig } from "../config/parse-config.ts";
import type { Logger } from "../io/log.ts";
import type { Connection } from "../session/connection.ts";
import { ClientState } from "./state.ts";
import { backupSource, startHead, walkFor, type HeadStart } from "./upload/backup-source.ts";
import { OpeningSession } from "./upload/opening-session.ts";
import { SessionSpoiled, type ClosingPing, type UploadContext, type UploadProgress } from "./upload/upload-context.ts";
import { resultWithoutTransfer, type SourceResult } from "./source-result.ts";
import { availabilityOf, classifyDown, ServerWatch } from "./server-availability.ts";
import { checkServerName, type NameMismatch } from "./server-name.ts";
import type { DownKind } from "../daemon/status-line.ts";
import { openClientSession, type SecureSession } from "../session/secure-session.ts";
import { openWhenAdmitted, type BusyWindow } from "./busy-wait.ts";

export interface TickResult {
  server: "up" | "down";
  /** Why the server was considered down: "connection refused", "timeout ...", "unauthorized: ...". */
  reason?: string;
  /** That reason as a stable word (client/tick-plan.ts retries some kinds). */
  kind?: DownKind;
  results: SourceResult[];
  exitCode: number;
}

export interface TickContext {
  config: Config & { client: NonNullable<Config["client"]> };
  identity: Identity;
  log: Logger;
  state: ClientState;
  /** Opens a transport to the configured server. Throws SERVER_DOWN with the reason. */
  connect: () => Promise<Connection>;
  now: () => Date;
  /** Told when each source starts, progresses and ends (the --once progress display). */
  progress?: TickProgress;
  /** Until when (ms since the epoch) a tick started at `startMs` waits its turn at a busy server; without it a BUSY skips the tick at once. */
  busyUntil?: (startMs: number) => number;
  /** Ends a wait at a busy server at once (the daemon stops). */
  signal?: AbortSignal;
  /** Told before each wait at a busy server: when the tick tries again, since when it waits (STATUS= and daemon.json say "busy"). */
  onBusy?: (retryAt: Date, since: Date) => void;
}

export interface TickProgress {
  sourceStarted(name: string): void;
  update(progress: UploadProgress): void;
  sourceDone(result: SourceResult): void;
}

let pingCounter = 0;

/**
 * Authenticated ping: a handshake plus ping/pong. An open port alone is not "up". `onConnected` runs once TCP is up
 * and the client HELLO is written. In a version-5 session the ping goes right behind the client AUTH and its pong
 * comes right after `welcome` (PROTOCOL.md §10 step 2): the probe costs no round trip of its own.
 */
async function probe(ctx: TickContext, onConnected?: () => void): Promise<SecureSession> {
  const connection = await ctx.connect();
  try {
    const early = pingOf(ctx.config.hash);
    // configFile: a changed server identity names the command that re-pins it (hashrelay trust-server --config FILE).
    const opening = openClientSession(connection, ctx.identity, ctx.config.client.serverKey, {
      configFile: ctx.config.file,
      reconnect: ctx.connect,
      early,
    });
    // The HELLO is written before the call returns (its first await): the walk onConnected starts (~20 ms of
    // CPU before its first yield) no longer holds it back, and takes its turns while the server answers.
    onConnected?.();
    const session = await opening;
    if (session.version < PIPELINED_VERSION) await session.sendControl(early);
    await readPong(session, early.id);
    return session;
  } catch (err) {
    connection.close();
    throw err;
  }
}

/** A new ping; every ping carries the hash of the config in force: the server records it (attestation). */
function pingOf(configHash: string): PingMessage {
  return { type: "ping", id: ++pingCounter, configHash };
}

/** Reads the pong of ping `id`. */
async function readPong(session: SecureSession, id: number): Promise<void> {
  // A probe: a server that answers the handshake but not a ping within this is Down, not slow.
  const pong = await session.expect(["pong"], HANDSHAKE_TIMEOUT_MS);
  if (pong.id !== id) throw new HashRelayError("BAD_FRAME", `pong ${pong.id} does not answer ping ${id}`);
}

/**
 * The tick's one session, owned by runTick: opened by the first probe, dropped when a source spoils it,
 * reopened on demand. A server that answers BUSY is tried again within the tick's busy window.
 */
class TickSession {
  private current: SecureSession | null = null;
  private readonly window: BusyWindow;
  /** The closing ping sent behind the last commit, and the session it went on. */
  private closing: { session: SecureSession; id: number } | null = null;

  constructor(private readonly ctx: TickContext) {
    const startMs = Date.now();
    let until: number | undefined;
    // Worked out on the first BUSY only (the next scheduled tick needs the machine's time zone).
    const untilOf = () => (until ??= ctx.busyUntil?.(startMs) ?? startMs);
    this.window = {
      get until() {
        return untilOf();
      },
      signal: ctx.signal,
      onWait: ctx.onBusy,
    };
  }

  /** The first probe; `onConnected` runs once TCP is up (once, however many tries a busy server takes). Throws as probe does. */
  async open(onConnected: () => void): Promise<void> {
    let connected = false;
    const once = () => {
      if (!connected) onConnected();
      connected = true;
    };
    this.current = await openWhenAdmitted(() => probe(this.ctx, once), this.window, this.ctx.log);
  }

  /** The name the server gave this client in the open session's `welcome`; null when none is open. */
  get clientName(): string | null {
    return this.current?.clientName ?? null;
  }

  /** The open session, or a new one (a probe) after a drop. Throws as probe does. */
  async get(): Promise<SecureSession> {
    this.current ??= await openWhenAdmitted(() => probe(this.ctx), this.window, this.ctx.log);
    return this.current;
  }

  /**
   * Version 5: the tick's closing ping, sent on `open` right behind the last source's claiming `offer` or
   * `commit` (PROTOCOL.md §10 steps 3 and 6); its pong follows the answer and probeAgain() reads it, or
   * readNow() when the upload goes on. An older session pings after the last answer.
   */
  readonly closingPing: ClosingPing = {
    sendBehind: async (open) => {
      if (open.version < PIPELINED_VERSION) return;
      const closing = pingOf(this.ctx.config.hash);
      await open.sendControl(closing);
      this.closing = { session: open, id: closing.id };
    },
    readNow: async (open) => {
      if (this.closing?.session !== open) return;
      const { id } = this.closing;
      this.closing = null;
      await readPong(open, id);
    },
  };

  /** The closing probe: the pong of the ping sent behind the last commit on the session still open, else a ping now. Throws as probe does. */
  async probeAgain(): Promise<SecureSession> {
    const open = await this.get();
    if (this.closing?.session === open) return readPong(open, this.closing.id).then(() => open);
    const closing = pingOf(this.ctx.config.hash);
    await open.sendControl(closing);
    await readPong(open, closing.id);
    return open;
  }

  /** Closes the session, if one is open. */
  drop(): void {
    this.current?.connection.close();
    this.current = null;
  }
}

/** Runs one tick over every source of the config it is given (a reload never changes a tick in flight). */
export async function runTick(ctx: TickContext): Promise<TickResult> {
  const startedAt = ctx.now().toISOString();
  const { client } = ctx.config;
  const previous = ctx.state.lastTick();
  const watch = new ServerWatch(availabilityOf(previous), ctx.log, ctx.now, `${client.server.host}:${client.server.port}`);
  const session = new TickSession(ctx);
  // The first source is walked, and when it changed read and chunked, while the handshake and ping are
  // under way (startHead; a tree walk yields to the event loop): its lstat calls and reads overlap the round
  // trips and the peers' signatures. Not before the server answers TCP: a daemon facing a server that is
  // down does not walk its sources every tick.
  const first = client.paths[0];
  const last = client.paths.at(-1);
  const uploadCtx = uploadContextOf(ctx);
  // The tick's last source sends the closing ping behind its final request.
  const lastCtx: UploadContext = { ...uploadCtx, closingPing: session.closingPing };
  const ctxOf = (source: SourceConfig) => (source === last ? lastCtx : uploadCtx);
  const opening = Promise.withResolvers<SecureSession>();
  opening.promise.catch(() => undefined); // skipTick reports it
  let firstHead: Promise<HeadStart> | undefined;
  try {
    await session.open(() => {
      if (!first) return;
      firstHead = startHead(first, ctxOf(first), walkFor(first, uploadCtx), new OpeningSession(opening.promise));
      firstHead.catch(() => undefined); // backupSource reports a walk that failed
    });
    opening.resolve(await session.get());
  } catch (err) {
    opening.reject(err);
    await firstHead?.then(
      (head) => head.close(err),
      () => undefined,
    );
    return skipTick(ctx, watch, asHashRelayError(err, "SERVER_DOWN"), startedAt, previous?.nameMismatch);
  }
  watch.up();
  const nameMismatch = checkServerName(client.name, session.clientName!, previous?.nameMismatch, ctx.log);

  const results: SourceResult[] = [];
  for (const source of client.paths) {
    ctx.progress?.sourceStarted(source.name);
    const result = await backupOne(session, source, ctxOf(source), source === first ? firstHead : undefined);
    results.push(result);
    ctx.progress?.sourceDone(result);
    logResult(ctx, result);
  }

  const end = await probeAgain(session, watch);
  const exitCode = results.some((r) => r.status === "failed") ? EXIT.SOURCE_FAILED : EXIT.OK;
  await recordTick(ctx, watch, startedAt, { results, exitCode, nameMismatch });
  return { ...end, results, exitCode };
}

/** The tick when the first probe failed: every source skipped, the reason logged and recorded (a known name mismatch kept). */
async function skipTick(
  ctx: TickContext,
  watch: ServerWatch,
  error: HashRelayError,
  startedAt: string,
  nameMismatch: NameMismatch | undefined,
): Promise<TickResult> {
  const { kind, reason } = classifyDown(error);
  watch.down(kind, reason);
  const unauthorized = error.code === "UNAUTHORIZED" || error.code === "VERSION";
  const sources = ctx.config.client.paths;
  // Busy for the whole busy window is not down: the server answered, it had no room for this client.
  const what = kind === "busy" ? "server busy" : "server down";
  for (const source of sources) {
    ctx.log.log("warn", `backup of ${source.name} not performed: ${what} (${reason})`, { name: source.name });
  }
  const result: TickResult = {
    server: "down",
    reason,
    kind,
    results: sources.map((s) => resultWithoutTransfer(s.name, "skipped", `${what}: ${reason}`)),
    exitCode: unauthorized ? EXIT.UNAUTHORIZED : EXIT.SERVER_DOWN,
  };
  await recordTick(ctx, watch, startedAt, { ...result, nameMismatch: nameMismatch ?? null });
  return result;
}

/** Writes state/status.json: the server as the tick left it, each source's result, which tick this was, and a name mismatch. */
async function recordTick(
  ctx: TickContext,
  watch: ServerWatch,
  startedAt: string,
  { results, exitCode, nameMismatch }: Pick<TickResult, "results" | "exitCode"> & { nameMismatch: NameMismatch | null },
): Promise<void> {
  await ctx.state.saveTick({
    at: ctx.now().toISOString(),
    ...watch.current!,
    results,
    startedAt,
    pid: process.pid,
    exitCode,
    ...(nameMismatch ? { nameMismatch } : {}),
  });
}

/** What every upload of this tick is given. */
function uploadContextOf(ctx: TickContext): UploadContext {
  const { client } = ctx.config;
  return {
    identity: ctx.identity,
    format: client.compression === "zstd" ? "tar.zst" : "tar.gz",
    serverKey: client.serverKey,
    configHash: ctx.config.hash,
    state: ctx.state,
    log: ctx.log,
    now: ctx.now,
    onProgress: ctx.progress?.update,
  };
}

/**
 * Backs up one source on the tick's session; a failure that spoils the session drops it (the next source
 * opens another). One that asks for it (SessionSpoiled.again: a damaged stored copy) is tried once more.
 */
async function backupOne(
  session: TickSession,
  source: SourceConfig,
  uploadCtx: UploadContext,
  head: Promise<HeadStart> | undefined,
  again = true,
): Promise<SourceResult> {
  try {
    return await backupSource(await session.get(), source, uploadCtx, head);
  } catch (err) {
    // a head start backupSource never took (the session lost): stopped here
    await head?.then(
      (begun) => begun.close(err),
      () => undefined,
    );
    session.drop();
    if (err instanceof SessionSpoiled && err.again && again) {
      uploadCtx.log.log("warn", `backup of ${source.name}: ${err.result.error}; offering it again`, { name: source.name });
      return backupOne(session, source, uploadCtx, undefined, false);
    }
    return err instanceof SessionSpoiled ? err.result : resultWithoutTransfer(source.name, "failed", asHashRelayError(err).describe());
  }
}

/** Logs one source's outcome, and the warning when the server holds its previous archive. */
function logResult(ctx: TickContext, result: SourceResult): void {
  const { name } = result;
  const fields = {
    name,
    archive: result.archive ?? undefined,
    bytesSent: result.bytesSent,
    chunks: `${result.chunksSent}/${result.chunksTotal}`,
  };
  if (result.status === "failed") ctx.log.log("error", `backup of ${name} failed: ${result.error}`, fields);
  else ctx.log.log("info", `backup of ${name} ${result.status}`, fields);
  if (result.held)
    ctx.log.log("warn", heldWarning(name, result.status, result.held, ctx.config.client.name), { name, held: result.held.file });
}

/** The probe after the uploads: one more ping on the tick's session (a new one if it was lost), then `bye`; closes the session. */
async function probeAgain(session: TickSession, watch: ServerWatch): Promise<Pick<TickResult, "server" | "reason" | "kind">> {
  try {
    const open = await session.probeAgain();
    await open.sendControl({ type: "bye" });
    watch.up();
    return { server: "up" };
  } catch (err) {
    const down = classifyDown(asHashRelayError(err, "SERVER_DOWN"));
    watch.down(down.kind, down.reason);
    return { server: "down", ...down };
  } finally {
    session.drop();
  }
}

/** What the client says, once per tick, about a source whose previous archive the server holds. */
export function heldWarning(name: string, status: string, held: HeldArchive, client: string): string {
  return `backup of ${name} ${status === "sent" ? "stored" : status}, but the server holds the previous archive ${held.file}: suspect replacement since ${held.since} (${held.reason}); if the change is yours, release it on the server with hashrelay release ${name} --client ${client}`;
}
