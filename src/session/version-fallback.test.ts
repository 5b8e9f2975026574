// The client's fallback after a VERSION refusal (PROTOCOL.md §12): to the newest version the refusal names, marked as a fallback, so a refusal forged on the path opens no older session.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HashRelayError } from "../errors.ts";
import { FrameType, PROTOCOL_VERSION } from "../protocol/constants.ts";
import { identityFromSeed, sameBytes } from "../protocol/identity.ts";
import { errorFrame } from "../protocol/messages.ts";
import { serveConnection } from "../server/session.ts";
import { Store } from "../store/store.ts";
import { memoryConnectionPair } from "../testing/memory-connection.ts";
import type { Connection } from "./connection.ts";
import { openClientSession } from "./secure-session.ts";

const serverId = identityFromSeed(new Uint8Array(32).fill(7));
const clientId = identityFromSeed(new Uint8Array(32).fill(8));
const root = mkdtempSync(join(tmpdir(), "hr-version-fallback-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** The real server's session code on a fresh memory connection, accepting `versions` (default: all it speaks); what it logged. */
async function realServer(versions?: readonly number[]): Promise<{ end: Connection; logs: string[]; served: Promise<void> }> {
  const store = await Store.open(join(root, `storage-${Math.random().toString(36).slice(2)}`));
  const { a, b } = memoryConnectionPair();
  const logs: string[] = [];
  const served = serveConnection(b, {
    identity: serverId,
    store,
    log: { log: (level, message) => logs.push(`${level} ${message}`) },
    authorize: (key) => (sameBytes(key, clientId.publicKey) ? "web01" : null),
    now: () => new Date(),
    ...(versions ? { versions } : {}),
  });
  return { end: a, logs, served };
}

/**
 * Someone on the path answering the client's HELLO with the plaintext refusal a version-2 server sends.
 * A fake on purpose: it plays the attacker; the server behind the client's second connection is real.
 */
function forger(claim = "this server speaks protocol 2"): Connection {
  const { a, b } = memoryConnectionPair();
  void (async () => {
    const hello = await b.receive(5_000);
    expect(hello.type).toBe(FrameType.HELLO);
    await b.send(errorFrame("VERSION", claim));
    b.close();
  })();
  return a;
}

describe("the version fallback", () => {
  test("a refusal forged on the path: the real server refuses the marked fallback, and no version-2 session opens", async () => {
    const server = await realServer();
    const err = await openClientSession(forger(), clientId, serverId.publicKey, { reconnect: async () => server.end }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(HashRelayError);
    expect((err as HashRelayError).code).toBe("VERSION");
    expect((err as HashRelayError).message).toContain(`a fallback from protocol ${PROTOCOL_VERSION} to 2`);
    expect((err as HashRelayError).message).toContain("a refusal on the path was forged");
    await server.served;
    expect(server.logs.join("\n")).toContain("a refusal on the path was forged");
  });

  test("a refusal forged as a version-4 server's: the fallback to 4 is marked too, and a version-5 server refuses it", async () => {
    const server = await realServer();
    const err = await openClientSession(forger("this server speaks protocol 4 and 3 and 2"), clientId, serverId.publicKey, {
      reconnect: async () => server.end,
    }).catch((e: unknown) => e);
    expect((err as HashRelayError).code).toBe("VERSION");
    expect((err as HashRelayError).message).toContain(
      `a fallback from protocol ${PROTOCOL_VERSION} to 4, but this server speaks ${PROTOCOL_VERSION}`,
    );
    await server.served;
  });

  test("a real older server: the marked fallback is accepted at the newest version it names", async () => {
    for (const versions of [[2], [3, 2], [4, 3, 2]] as const) {
      const first = await realServer(versions);
      const second = await realServer(versions);
      const session = await openClientSession(first.end, clientId, serverId.publicKey, { reconnect: async () => second.end });
      expect(session.version).toBe(versions[0]);
      second.end.close();
      await Promise.all([first.served, second.served]);
      expect(first.logs.join("\n")).toContain(`speaks protocol ${PROTOCOL_VERSION}`);
    }
  });
});
