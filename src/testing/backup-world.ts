// Test helper: a server (real session code, real Store in a temp folder) and a client session joined in memory, to back up one source.
import { expect } from "bun:test";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SourceConfig } from "../config/model.ts";
import type { Logger } from "../io/log.ts";
import { FrameType } from "../protocol/constants.ts";
import { identityFromSeed, sameBytes } from "../protocol/identity.ts";
import { serveConnection } from "../server/session.ts";
import type { StreamGrants } from "../server/stream-grants.ts";
import { openClientSession } from "../session/secure-session.ts";
import { Store } from "../store/store.ts";
import { backupSource } from "../client/upload/backup-source.ts";
import type { UploadContext } from "../client/upload/upload-context.ts";
import { ClientState } from "../client/state.ts";
import { memoryConnectionPair } from "./memory-connection.ts";
import { traceSession } from "./session-trace.ts";

export const WORLD_CLIENT = "web01";

/** Which protocol versions the two ends speak: the server's accepted ones, the client's HELLO (defaults: both sides' own). */
export interface WorldVersions {
  server?: readonly number[];
  client?: number;
}

/**
 * A server and a client session joined in memory, in a temp folder pushed to `roots` (the caller removes
 * it). backup() backs up `source` once more, a second later, and returns its result and the frames the
 * client sent and read, after checking that the trace's order is the wire's. `onProgress`: the uploads' progress.
 */
export async function backupWorld(
  roots: string[],
  versions: WorldVersions = {},
  onProgress?: UploadContext["onProgress"],
  /** The server's chunk stream grants (default: the process's). */
  streams?: StreamGrants,
) {
  const root = mkdtempSync(join(tmpdir(), "hr-backup-source-"));
  roots.push(root);
  const serverId = identityFromSeed(new Uint8Array(32).fill(1));
  const clientId = identityFromSeed(new Uint8Array(32).fill(2));
  const logs: string[] = [];
  const log: Logger = { log: (level, message) => logs.push(`${level} ${message}`) };
  const store = await Store.open(join(root, "storage"));
  // Every connection the client opens (a second one when it falls back to an older version) is served.
  const servings: Promise<void>[] = [];
  let pair = memoryConnectionPair();
  const connect = () => {
    pair = memoryConnectionPair();
    servings.push(
      serveConnection(pair.b, {
        identity: serverId,
        store,
        log,
        authorize: (key) => (sameBytes(key, clientId.publicKey) ? WORLD_CLIENT : null),
        now: () => new Date(),
        ...(versions.server ? { versions: versions.server } : {}),
        ...(streams ? { streams } : {}),
      }),
    );
    return pair.a;
  };
  const session = await openClientSession(connect(), clientId, serverId.publicKey, {
    reconnect: async () => connect(),
    ...(versions.client ? { version: versions.client } : {}),
  });
  const frames = traceSession(session);
  const state = new ClientState(join(root, "state"));
  state.init();
  // Each backup a second later than the last: an archive's name has one-second resolution.
  let skewMs = 0;
  const ctx: UploadContext = {
    identity: clientId,
    format: "tar.gz",
    serverKey: serverId.publicKey,
    configHash: "0".repeat(64),
    state,
    log,
    now: () => new Date(Date.now() + skewMs),
    ...(onProgress ? { onProgress } : {}),
  };
  const source: SourceConfig = { path: join(root, "data"), name: "data", exclude: [], line: 1, col: 1 };
  mkdirSync(source.path);
  const backup = async () => {
    skewMs += 1000;
    frames.length = 0;
    const logged = pair.log.length;
    const result = await backupSource(session, source, ctx);
    // The trace's order is the wire's: the client's frames as the connection carried them.
    const traced = frames.filter((f) => f.dir === "sent").map((f) => (f.kind === "control" ? FrameType.SEALED_CONTROL : f.type));
    expect(traced).toEqual(pair.log.slice(logged).flatMap((f) => (f.from === "a" ? [f.type] : [])));
    return { result, frames: [...frames] };
  };
  const close = async () => {
    await session.sendControl({ type: "bye" });
    await Promise.all(servings);
    await store.close();
  };
  return { root, store, source, session, ctx, state, backup, close, logs };
}
