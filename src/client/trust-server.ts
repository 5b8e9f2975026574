// What `hashrelay trust-server` does: learn the identity the server proves now, and pin it once the admin confirms, keeping the old key for old receipts.
import os from "node:os";
import { createInterface } from "node:readline/promises";
import { EXIT, HashRelayError } from "../errors.ts";
import { parseConfig } from "../config/parse-config.ts";
import { setServerKeyText } from "../config/server-key-edit.ts";
import { editFileLocked } from "../io/file-edit.ts";
import { loadConfig, requireClient, type ClientConfig } from "../io/config-file.ts";
import { connectTcp } from "../io/framed-socket.ts";
import { loadKeyFile } from "../io/key-file.ts";
import { ServerIdentityChanged } from "../protocol/handshake.ts";
import { formatPublicKey, parsePublicKey } from "../protocol/identity.ts";
import { discoverServer } from "../session/discovery.ts";
import { openClientSession, type SecureSession } from "../session/secure-session.ts";
import { resolveServer } from "./command-session.ts";
import { recordEarlierServerKey } from "./pinned-keys.ts";

const CONNECT_TIMEOUT_MS = 10_000;
const CHECK_HINT = "compare it with the server's key: the '# public:' line of its key file, or its log line 'listening on … (identity …)'";

/** `hashrelay trust-server` as its flags asked (src/cli/trust-server.ts). */
export interface TrustRequest {
  configFile: string;
  /** `--key`: the key to pin without asking; it must be the one the server presents. */
  key?: string;
}

/** Exit 0 pinned (or nothing to do); throws USAGE (2: bad --key, no terminal to confirm on, not confirmed), SERVER_DOWN (3), UNAUTHORIZED (4: the server presents another key than --key). */
export async function trustServer(request: TrustRequest): Promise<number> {
  const { client } = requireClient(loadConfig(request.configFile));
  const given = request.key === undefined ? undefined : keyOf(request.key);
  const pinned = client.serverKeyText;
  const presented = await presentedKey(client, given);
  if (given !== undefined && given !== presented)
    throw new HashRelayError(
      "UNAUTHORIZED",
      `the server presents ${presented}, not the key you gave (${given}): nothing changed`,
      CHECK_HINT,
    );
  if (presented === pinned) {
    process.stdout.write(`the server presents the pinned key ${pinned}: nothing to do\n`);
    return EXIT.OK;
  }
  if (given === undefined && !(await confirmed(pinned, presented)))
    throw new HashRelayError("USAGE", `not confirmed: ${request.configFile} still pins ${pinned}`);
  // The old key first: a crash before the config is edited leaves only a harmless extra record.
  await recordEarlierServerKey(client.state, pinned, new Date().toISOString());
  await pinKey(request.configFile, presented);
  process.stdout.write(
    `pinned ${presented} as the server's key in ${request.configFile} (was ${pinned}; kept in ${client.state}/server-keys.json, so the receipts it signed stay checkable); a running client picks the change up by itself\n`,
  );
  return EXIT.OK;
}

/** The "ed25519:…" text of `--key`, normalized. Throws USAGE when it is no public key. */
function keyOf(text: string): string {
  const key = parsePublicKey(text);
  if (!key) throw new HashRelayError("USAGE", `--key ${JSON.stringify(text)} is not an ed25519:<base64> public key`, CHECK_HINT);
  return formatPublicKey(key);
}

/**
 * The identity the server proves in a handshake (its AUTH verifies with it): the pinned key when the
 * handshake succeeds, the new one when it fails as ServerIdentityChanged. With `server: auto` only a server
 * answering discovery with the pinned key or `given` is asked. Throws SERVER_DOWN, USAGE (auto, no
 * --key, pinned key not found), and other handshake refusals.
 */
async function presentedKey(client: ClientConfig["client"], given: string | undefined): Promise<string> {
  const identity = loadKeyFile(client.key);
  const target = await serverAddress(client, given);
  const connect = () => connectTcp(target.host, target.port, CONNECT_TIMEOUT_MS);
  const connection = await connect();
  let session: SecureSession | undefined;
  try {
    session = await openClientSession(connection, identity, client.serverKey, { reconnect: connect });
    await session.sendControl({ type: "bye" }).catch(() => undefined);
    return client.serverKeyText;
  } catch (err) {
    if (err instanceof ServerIdentityChanged) return err.presented;
    throw err;
  } finally {
    connection.close();
    session?.connection.close();
  }
}

/** Where to ask: client.server; with `auto`, the server answering LAN discovery with the pinned key, else with `given`. */
async function serverAddress(client: ClientConfig["client"], given: string | undefined): Promise<{ host: string; port: number }> {
  if (!client.server.auto || given === undefined) {
    try {
      return await resolveServer(client);
    } catch (err) {
      if (!client.server.auto) throw err;
      throw new HashRelayError(
        "USAGE",
        "with client.server: auto, no server answers LAN discovery with the pinned key",
        "pass --key ed25519:… (the server's new key) to find the server that answers with it",
        { cause: err },
      );
    }
  }
  const found = await discoverServer({ port: client.server.port, serverKey: parsePublicKey(given)! });
  if (!found) throw new HashRelayError("SERVER_DOWN", `no server answered LAN discovery on UDP port ${client.server.port} with ${given}`);
  return found;
}

/** Asks the admin on the terminal, showing both keys; true when they answer yes. Throws USAGE without a terminal. */
async function confirmed(pinned: string, presented: string): Promise<boolean> {
  if (!process.stdin.isTTY)
    throw new HashRelayError(
      "USAGE",
      `the server now presents ${presented} (pinned: ${pinned}); confirm on a terminal, or pass --key ${presented}`,
      CHECK_HINT,
    );
  process.stdout.write(
    `The server's identity changed.\n  pinned now:           ${pinned}\n  the server presents:  ${presented}\nPin the new key only if the server was reinstalled with a new identity: ${CHECK_HINT}.\n`,
  );
  const prompt = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return /^(y|yes)$/i.test((await prompt.question(`Pin ${presented}? [y/N] `)).trim());
  } finally {
    prompt.close();
  }
}

/** Writes `key` as client.serverKey of `file`, comments kept; refuses (CONFIG) an edit after which the file would not be valid. */
async function pinKey(file: string, key: string): Promise<void> {
  await editFileLocked(file, (text) => {
    const out = setServerKeyText(text, key);
    const result = parseConfig(out, file, { hostname: os.hostname() });
    if (!result.ok || result.config.client?.serverKeyText !== key)
      throw new HashRelayError(
        "CONFIG",
        `${file} would not be valid after the edit, so it was not written`,
        "fix it first: hashrelay validate",
      );
    return out;
  }).catch((err: NodeJS.ErrnoException) => {
    if (err instanceof HashRelayError) throw err;
    throw new HashRelayError(
      "CONFIG",
      `cannot edit config ${file}: ${err.code ?? err.message}`,
      "editing needs write access to the file and its folder",
      {
        cause: err,
      },
    );
  });
}
