// A one-off authenticated session to the configured server, for commands that ask it something (ls, restore, verify).
import { HashRelayError } from "../errors.ts";
import { IDLE_TIMEOUT_MS } from "../protocol/constants.ts";
import type { ListedArchive } from "../protocol/messages.ts";
import type { Config } from "../config/parse-config.ts";
import { openClientSession, type SecureSession } from "../session/secure-session.ts";
import { connectTcp } from "../io/framed-socket.ts";
import { discoverServer } from "../session/discovery.ts";
import { loadKeyFile } from "../io/key-file.ts";

const CONNECT_TIMEOUT_MS = 10_000;

/** Where the server is: client.server, or with `server: auto` the pinned server found on the LAN now. Throws SERVER_DOWN when none answers. */
export async function resolveServer(client: NonNullable<Config["client"]>): Promise<{ host: string; port: number }> {
  if (!client.server.auto) return client.server;
  const found = await discoverServer({ port: client.server.port, serverKey: client.serverKey });
  if (!found)
    throw new HashRelayError("SERVER_DOWN", `no answer from the pinned server to LAN discovery on UDP port ${client.server.port}`);
  return found;
}

/**
 * Connects (LAN discovery first when `client.server` is auto) and runs the handshake. Returns the session,
 * "host:port" and this client's public key. The caller closes `session.connection`. Throws SERVER_DOWN,
 * TIMEOUT, UNAUTHORIZED (a changed server identity names `configFile` in its advice), KEY.
 */
export async function openCommandSession(
  client: NonNullable<Config["client"]>,
  configFile?: string,
): Promise<{ session: SecureSession; target: string; clientKey: Uint8Array }> {
  const identity = loadKeyFile(client.key);
  const target = await resolveServer(client);
  const connect = () => connectTcp(target.host, target.port, CONNECT_TIMEOUT_MS);
  const connection = await connect();
  try {
    const session = await openClientSession(connection, identity, client.serverKey, { configFile, reconnect: connect });
    return { session, target: `${target.host}:${target.port}`, clientKey: identity.publicKey };
  } catch (err) {
    connection.close();
    throw err;
  }
}

/** Sends `list` and gathers every `listing` page. Throws what the session throws (CLOSED, TIMEOUT, BAD_FRAME, a peer error). */
export async function listRemote(session: SecureSession, name?: string): Promise<ListedArchive[]> {
  await session.sendControl({ type: "list", ...(name ? { name } : {}) });
  const archives: ListedArchive[] = [];
  for (;;) {
    const page = await session.expect(["listing"], IDLE_TIMEOUT_MS);
    archives.push(...page.archives);
    if (!page.more) return archives;
  }
}
