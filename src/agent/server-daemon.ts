// The server process: listener with connection caps, sessions, trash purge at start and every minute.
import type net from "node:net";
import { FrameType, MAX_CONNECTIONS } from "../protocol/constants.ts";
import { errorFrame } from "../protocol/messages.ts";
import { encodeFrame } from "../protocol/frame-codec.ts";
import { formatPublicKey, type Identity } from "../protocol/identity.ts";
import type { Config } from "../config/parse-config.ts";
import { Store } from "../store/store.ts";
import { FramedSocket, listenTcp, type TcpListener } from "../io/framed-socket.ts";
import type { Logger } from "../io/log.ts";
import { serveConnection, type SessionEvents } from "./server-session.ts";

/** Connections still in their handshake; past this the oldest is cut (a flood cannot lock clients out). */
const MAX_PENDING_HANDSHAKES = 64;
const PURGE_EVERY_MS = 60_000;

export interface RunningServer {
  port: number;
  store: Store;
  close(): Promise<void>;
}

type ServerConfig = Config & { server: NonNullable<Config["server"]> };

/** Starts serving `config.server`; resolves once listening. Throws if storage cannot be opened or the port bound. */
export async function startServer(config: ServerConfig, identity: Identity, log: Logger, events?: SessionEvents & { sessionClosed?(): void }): Promise<RunningServer> {
  const { server } = config;
  const store = await Store.open(server.storage, { log: (level, message, fields) => log.log(level, message, fields) });
  store.setRetention({ keep: server.retention.keep, trashForMs: server.retention.trashForMs });
  const clientsByKey = new Map(server.clients.map((c) => [formatPublicKey(c.key), c.name]));

  const purge = async () => {
    try {
      const purged = await store.purgeTrash(server.retention.trashForMs);
      for (const item of purged) log.log("info", `purged ${item.client}/${item.item} (in trash since ${new Date(item.trashedAtMs).toISOString()})`, { client: item.client });
    } catch (err) {
      log.log("error", `trash purge failed: ${(err as Error).message}`);
    }
  };
  await purge();
  const purgeTimer = setInterval(purge, PURGE_EVERY_MS);

  const pending = new Set<net.Socket>();
  let sessions = 0;
  const onConnection = (socket: net.Socket) => {
    socket.on("error", () => undefined);
    if (sessions >= MAX_CONNECTIONS) {
      socket.end(encodeFrame(FrameType.ERROR, errorFrame("BUSY", `server busy: ${MAX_CONNECTIONS} sessions open`).body));
      setTimeout(() => socket.destroy(), 1000).unref();
      log.log("warn", `connection from ${socket.remoteAddress} refused: BUSY`);
      return;
    }
    if (pending.size >= MAX_PENDING_HANDSHAKES) {
      const oldest = pending.values().next().value;
      if (oldest) {
        pending.delete(oldest);
        oldest.destroy();
      }
    }
    pending.add(socket);
    let authenticated = false;
    serveConnection(new FramedSocket(socket), {
      identity,
      store,
      log,
      now: () => new Date(),
      events,
      authorize: (key) => {
        const name = clientsByKey.get(formatPublicKey(key)) ?? null;
        if (name) {
          pending.delete(socket);
          authenticated = true;
          sessions++;
        }
        return name;
      },
    }).finally(() => {
      pending.delete(socket);
      if (authenticated) {
        sessions--;
        events?.sessionClosed?.();
      }
    });
  };

  let listener: TcpListener;
  try {
    listener = await listenTcp(server.listen, config.port, onConnection);
  } catch (err) {
    clearInterval(purgeTimer);
    throw err;
  }
  log.log("info", `listening on ${server.listen}:${listener.port} (identity ${formatPublicKey(identity.publicKey)}, ${server.clients.length} clients, storage ${server.storage})`);
  return {
    port: listener.port,
    store,
    close: async () => {
      clearInterval(purgeTimer);
      await listener.close();
    },
  };
}
