// Test helper: the server's serveConnection on one end of an in-memory pair, a real client SecureSession on the other.
import { afterEach, expect } from "bun:test";
import { decodeNeed, encodeManifestPage } from "../protocol/binary-frames.ts";
import { FrameType } from "../protocol/constants.ts";
import { formatPublicKey, type Identity } from "../protocol/identity.ts";
import type { ControlMessage } from "../protocol/messages.ts";
import { signDocument, type SignedDoc } from "../protocol/signed-document.ts";
import { identityFor } from "../protocol/test-fixtures.ts";
import type { Level, LogFields } from "../io/log.ts";
import type { Connection } from "../session/connection.ts";
import { openClientSession, type SecureSession } from "../session/secure-session.ts";
import type { StreamGrants } from "../server/stream-grants.ts";
import { serveConnection, type ServerSessionContext } from "../server/session.ts";
import { Store } from "../store/store.ts";
import { headerFor, tempRoots, type TestArchive } from "../store/test-fixtures.ts";
import { memoryConnectionPair, type LoggedFrame } from "./memory-connection.ts";

export const SERVER_IDENTITY: Identity = identityFor("served-session server");
/** The one client the served sessions list, under the name CLIENT_NAME. */
export const CLIENT_IDENTITY: Identity = identityFor("served-session client web01");
export const CLIENT_NAME = "web01";

export interface LogRecord {
  level: Level;
  message: string;
  fields: LogFields;
}

/** One connection being served: the client's end of it, what the server logged and told, and when it was done. */
export interface ServedConnection {
  /** The client's end; hand it to openClientSession (or write raw frames to it). */
  clientEnd: Connection;
  /** serveConnection's promise: settles once the server is done with the connection. */
  served: Promise<void>;
  /** Every frame both ends delivered, in order: `a` is the client, `b` the server. */
  frames: LoggedFrame[];
  logs: LogRecord[];
  /** The session events and hooks, as `name:arg,…` strings in order (e.g. `handshakeRefused:UNAUTHORIZED`). */
  told: string[];
  /** Ends the session the way a reload that removed the client does (ServerSessionContext.track). */
  end(code: Parameters<Parameters<NonNullable<ServerSessionContext["track"]>>[2]>[0], reason: string): void;
}

/** Serves a fresh memory connection with `store` as `server` (default SERVER_IDENTITY); only CLIENT_IDENTITY is listed. Never awaits the session itself. */
export function serveOverMemory(store: Store, server: Identity = SERVER_IDENTITY, streams?: StreamGrants): ServedConnection {
  const { a, b, log: frames } = memoryConnectionPair();
  const logs: LogRecord[] = [];
  const told: string[] = [];
  let endSession: ServedConnection["end"] = () => {
    throw new Error("no session is tracked yet");
  };
  const listed = formatPublicKey(CLIENT_IDENTITY.publicKey);
  const served = serveConnection(b, {
    identity: server,
    store,
    ...(streams ? { streams } : {}),
    log: { log: (level, message, fields = {}) => logs.push({ level, message, fields }) },
    authorize: (key) => (formatPublicKey(key) === listed ? CLIENT_NAME : null),
    now: () => new Date(),
    track: (client, _key, end) => {
      endSession = end;
      told.push(`track:${client}`);
      return () => told.push(`untrack:${client}`);
    },
    onConfigHash: (client, hash) => told.push(`configHash:${client},${hash}`),
    events: {
      sessionOpened: (client) => told.push(`sessionOpened:${client}`),
      handshakeRefused: (code) => told.push(`handshakeRefused:${code}`),
      manifestPage: (client, entries, needed) => told.push(`manifestPage:${client},${entries},${needed}`),
      chunkReceived: (client, bytes) => told.push(`chunkReceived:${client},${bytes}`),
      archiveStored: (client, entry) => told.push(`archiveStored:${client},${entry.file}`),
    },
  });
  return { clientEnd: a, served, frames, logs, told, end: (code, reason) => endSession(code, reason) };
}

/** serveOverMemory (as `server`), then the client's handshake with CLIENT_IDENTITY (or `identity`) pinning that server's key. */
export async function openServedSession(
  store: Store,
  identity: Identity = CLIENT_IDENTITY,
  server: Identity = SERVER_IDENTITY,
  streams?: StreamGrants,
): Promise<ServedConnection & { client: SecureSession }> {
  const served = serveOverMemory(store, server, streams);
  const client = await openClientSession(served.clientEnd, identity, server.publicKey);
  return { ...served, client };
}

/** The manifest CLIENT_NAME would sign at commit for `archive` stored as `file`, made at `createdAtMs`. */
export function signedManifest(file: string, archive: TestArchive, createdAtMs: number, signer: Identity = CLIENT_IDENTITY): SignedDoc {
  return signDocument(
    { v: 1, kind: "manifest", client: CLIENT_NAME, ...headerFor(file, archive), createdAt: new Date(createdAtMs).toISOString() },
    signer,
  );
}

/** `offer` of source "etc" with `base` → `send-manifest {base: true}` → `next`'s one page → its NEED; returns what was asked for. */
export async function offerAgainst(client: SecureSession, base: TestArchive, next: TestArchive): Promise<number[]> {
  await client.sendControl({ type: "offer", name: "etc", base: base.archiveId });
  expect(await client.receive(5_000)).toMatchObject({ kind: "control", message: { type: "send-manifest", base: true } });
  await client.sendBinary(FrameType.SEALED_MANIFEST, encodeManifestPage({ firstIndex: 0, entries: next.entries }));
  return decodeNeed(await client.expectBinary(FrameType.SEALED_NEED, 5_000)).needed;
}

/** The code of the error the server ended the session with (the next receive fails with it), or "no error". */
export async function endedWith(client: SecureSession): Promise<string> {
  const err = await client.receive(5_000).then(
    () => null,
    (e: unknown) => e as { code: string },
  );
  return err?.code ?? "no error";
}

/** Stores opened in fresh temp folders named after `prefix`, each closed (and removed) after its test. */
export function storesIn(prefix: string): () => Promise<{ store: Store; root: string }> {
  const newRoot = tempRoots(prefix);
  const stores: Store[] = [];
  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
  });
  return async () => {
    const root = await newRoot();
    const store = await Store.open(root);
    stores.push(store);
    return { store, root };
  };
}

/** The client's next message, which must be a control message. */
export async function nextControl(client: SecureSession, waitMs = 5_000): Promise<ControlMessage> {
  const incoming = await client.receive(waitMs);
  if (incoming.kind !== "control") throw new Error(`expected a control message, got binary 0x${incoming.type.toString(16)}`);
  return incoming.message;
}
