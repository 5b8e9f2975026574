// One reconcile pass: probe the server, back up every source on one session, probe again, record the results.
import { EXIT, HashRelayError, asHashRelayError } from "../errors.ts";
import { HANDSHAKE_TIMEOUT_MS } from "../protocol/constants.ts";
import type { Identity } from "../protocol/identity.ts";
import type { HeldArchive } from "../protocol/messages.ts";
import type { Config } from "../config/parse-config.ts";
import type { Logger } from "../io/log.ts";
import type { Connection } from "../session/connection.ts";
import { ClientState } from "./state.ts";
import { backupSource, SessionSpoiled, type UploadProgress } from "./upload.ts";
import type { SourceResult } from "./source-result.ts";
import { availabilityOf, classifyDown, ServerWatch } from "./server-availability.ts";
import { openClientSession, type SecureSession } from "../session/secure-session.ts";
import { walkSource, type WalkResult } from "./tree-walk.ts";

export interface TickResult {
  server: "up" | "down";
  /** Why the server was considered down: "connection refused", "timeout ...", "unauthorized: ...". */
  reason?: string;
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
}

export interface TickProgress {
  sourceStarted(name: string): void;
  update(progress: UploadProgress): void;
  sourceDone(result: SourceResult): void;
}

let pingCounter = 0;

/** Authenticated ping: a handshake plus ping/pong. An open port alone is not "up". `onConnected` runs once TCP is up. */
async function probe(ctx: TickContext, onConnected?: () => void): Promise<SecureSession> {
  const connection = await ctx.connect();
  onConnected?.();
  try {
    const session = await openClientSession(connection, ctx.identity, ctx.config.client.serverKey);
    await ping(session, ctx.config.hash);
    return session;
  } catch (err) {
    connection.close();
    throw err;
  }
}

/** Every ping carries the hash of the config in force: the server records it (attestation). */
async function ping(session: SecureSession, configHash: string): Promise<void> {
  const id = ++pingCounter;
  await session.sendControl({ type: "ping", id, configHash });
  // A probe: a server that answers the handshake but not a ping within this is Down, not slow.
  const pong = await session.expect(["pong"], HANDSHAKE_TIMEOUT_MS);
  if (pong.id !== id) throw new HashRelayError("BAD_FRAME", `pong ${pong.id} does not answer ping ${id}`);
}

/** Runs one tick over every source of the config it is given (a reload never changes a tick in flight). */
export async function runTick(ctx: TickContext): Promise<TickResult> {
  const { client } = ctx.config;
  const log = ctx.log;
  const watch = new ServerWatch(availabilityOf(ctx.state.lastTick()), log, ctx.now, `${client.server.host}:${client.server.port}`);
  let session: SecureSession | null = null;
  // The first source is walked while the handshake and ping are under way (a tree walk yields to the
  // event loop): its lstat calls overlap the round trips and the peers' signatures. Not before the
  // server answers TCP: a daemon facing a server that is down does not walk its sources every tick.
  const first = client.paths[0];
  let firstWalk: Promise<WalkResult> | undefined;
  try {
    session = await probe(ctx, () => {
      if (!first) return;
      firstWalk = walkSource(first.path, first.exclude);
      firstWalk.catch(() => undefined); // backupSource reports it
    });
  } catch (err) {
    const error = asHashRelayError(err, "SERVER_DOWN");
    const { kind, reason } = classifyDown(error);
    watch.down(kind, reason);
    const unauthorized = error.code === "UNAUTHORIZED" || error.code === "VERSION";
    for (const source of client.paths) {
      log.log("warn", `backup of ${source.name} not performed: server down (${reason})`, { name: source.name });
    }
    const result: TickResult = {
      server: "down",
      reason,
      results: client.paths.map((s) => ({
        name: s.name,
        archive: null,
        status: "skipped",
        bytesSent: 0,
        chunksTotal: 0,
        chunksSent: 0,
        error: `server down: ${reason}`,
      })),
      exitCode: unauthorized ? EXIT.UNAUTHORIZED : EXIT.SERVER_DOWN,
    };
    await ctx.state.saveTick({ at: ctx.now().toISOString(), ...watch.current!, results: result.results });
    return result;
  }
  watch.up();

  const uploadCtx = {
    identity: ctx.identity,
    format: client.compression === "zstd" ? ("tar.zst" as const) : ("tar.gz" as const),
    serverKey: client.serverKey,
    configHash: ctx.config.hash,
    state: ctx.state,
    log,
    now: ctx.now,
    onProgress: ctx.progress?.update,
  };
  const results: SourceResult[] = [];
  for (const source of client.paths) {
    let result: SourceResult;
    ctx.progress?.sourceStarted(source.name);
    try {
      session ??= await probe(ctx);
      result = await backupSource(session, source, uploadCtx, source === first ? firstWalk : undefined);
    } catch (err) {
      if (err instanceof SessionSpoiled) {
        result = err.result;
      } else {
        const error = asHashRelayError(err);
        result = {
          name: source.name,
          archive: null,
          status: "failed",
          bytesSent: 0,
          chunksTotal: 0,
          chunksSent: 0,
          error: error.describe(),
        };
      }
      session?.connection.close();
      session = null;
    }
    results.push(result);
    ctx.progress?.sourceDone(result);
    const fields = {
      name: source.name,
      archive: result.archive ?? undefined,
      bytesSent: result.bytesSent,
      chunks: `${result.chunksSent}/${result.chunksTotal}`,
    };
    if (result.status === "failed") log.log("error", `backup of ${source.name} failed: ${result.error}`, fields);
    else log.log("info", `backup of ${source.name} ${result.status}`, fields);
    if (result.held)
      log.log("warn", heldWarning(result.name, result.status, result.held, client.name), { name: source.name, held: result.held.file });
  }

  let server: TickResult["server"] = "up";
  let reason: string | undefined;
  try {
    session ??= await probe(ctx);
    await ping(session, ctx.config.hash);
    await session.sendControl({ type: "bye" });
    watch.up();
  } catch (err) {
    server = "down";
    const down = classifyDown(asHashRelayError(err, "SERVER_DOWN"));
    reason = down.reason;
    watch.down(down.kind, down.reason);
  } finally {
    session?.connection.close();
  }
  const exitCode = results.some((r) => r.status === "failed") ? EXIT.SOURCE_FAILED : EXIT.OK;
  await ctx.state.saveTick({ at: ctx.now().toISOString(), ...watch.current!, results });
  return { server, reason, results, exitCode };
}

/** What the client says, once per tick, about a source whose previous archive the server holds. */
export function heldWarning(name: string, status: string, held: HeldArchive, client: string): string {
  return `backup of ${name} ${status === "sent" ? "stored" : status}, but the server holds the previous archive ${held.file}: suspect replacement since ${held.since} (${held.reason}); if the change is yours, release it on the server with hashrelay release ${name} --client ${client}`;
}
