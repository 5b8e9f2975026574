// One authenticated client session on the server: offers, manifest pages, chunks, commits, receipts.
import { HashRelayError, asHashRelayError, isWireErrorCode } from "../errors.ts";
import { FrameType, IDLE_TIMEOUT_MS } from "../protocol/constants.ts";
import { decodeChunkPayload, decodeManifestPage, encodeNeed } from "../protocol/binary-frames.ts";
import { signDocument, verifyDocument, type SignedDoc } from "../protocol/signed-document.ts";
import type { Identity } from "../protocol/identity.ts";
import type { Store, CatalogEntry, Upload } from "../store/store.ts";
import type { Logger } from "../io/log.ts";
import type { Connection } from "./connection.ts";
import { openServerSession, type SecureSession } from "./secure-session.ts";

export interface ServerSessionContext {
  identity: Identity;
  store: Store;
  log: Logger;
  /** The configured client name for a public key, or null when the key is not listed. */
  authorize: (clientKey: Uint8Array) => string | null;
  now: () => Date;
  /** Told what happens, for metrics and `hashrelay status`; each hook must be cheap and must not throw. */
  events?: SessionEvents;
}

export interface SessionEvents {
  sessionOpened?(client: string, remote: string): void;
  /** The handshake did not end in a session: UNAUTHORIZED, TIMEOUT, CLOSED, BAD_FRAME… */
  handshakeRefused?(code: string): void;
  /** A manifest page of `entries` chunks, of which the server lacked `needed`. */
  manifestPage?(client: string, entries: number, needed: number): void;
  chunkReceived?(client: string, bytes: number): void;
  archiveStored?(client: string, entry: CatalogEntry): void;
}

/** Serves one connection until `bye`, an error, or silence. Never throws; never touches storage on a wire error. */
export async function serveConnection(connection: Connection, ctx: ServerSessionContext): Promise<void> {
  let session: SecureSession & { clientKey: Uint8Array };
  try {
    session = await openServerSession(connection, ctx.identity, ctx.authorize);
  } catch (err) {
    const error = asHashRelayError(err, "BAD_FRAME");
    ctx.log.log("warn", `handshake from ${connection.remote} refused: ${error.code}: ${error.message}`, { peer: connection.remote });
    ctx.events?.handshakeRefused?.(error.code);
    connection.close();
    return;
  }
  const client = session.clientName;
  const log = { log: (level: Parameters<Logger["log"]>[0], message: string, fields = {}) => ctx.log.log(level, message, { client, ...fields }) };
  log.log("info", `session opened from ${connection.remote}`);
  ctx.events?.sessionOpened?.(client, connection.remote);

  let upload: { name: string; upload: Upload } | null = null;
  try {
    for (;;) {
      const incoming = await session.receive(IDLE_TIMEOUT_MS);
      if (incoming.kind === "binary") {
        if (!upload) throw new HashRelayError("BAD_FRAME", "binary frame outside an upload");
        if (incoming.type === FrameType.SEALED_MANIFEST) {
          const page = decodeManifestPage(incoming.payload);
          const wanted = upload.upload.addManifestPage(page.firstIndex, page.entries);
          const needed = wanted.flatMap((want, i) => (want ? [page.firstIndex + i] : []));
          ctx.events?.manifestPage?.(client, page.entries.length, needed.length);
          await session.sendBinary(FrameType.SEALED_NEED, encodeNeed({ firstIndex: page.firstIndex, count: page.entries.length, needed }));
        } else if (incoming.type === FrameType.SEALED_CHUNK) {
          const chunk = decodeChunkPayload(incoming.payload);
          await upload.upload.addChunk(chunk.index, chunk.member);
          ctx.events?.chunkReceived?.(client, chunk.member.length);
        } else {
          throw new HashRelayError("BAD_FRAME", `unexpected frame type 0x${incoming.type.toString(16)}`);
        }
        continue;
      }
      const message = incoming.message;
      switch (message.type) {
        case "ping":
          await session.sendControl({ type: "pong", id: message.id, serverTime: Date.now() });
          break;
        case "bye":
          log.log("info", "session closed");
          connection.close();
          return;
        case "offer": {
          if (upload) throw new HashRelayError("BAD_FRAME", "offer during an upload");
          const latest = ctx.store.latest(client, message.name);
          if (message.archiveId && latest && latest.archiveId === message.archiveId) {
            await session.sendControl({ type: "have", receipt: await receiptFor(latest, ctx) });
            log.log("info", `${message.name} unchanged (${latest.file})`, { name: message.name });
          } else {
            upload = { name: message.name, upload: ctx.store.beginUpload(client, message.name) };
            await session.sendControl({ type: "send-manifest" });
          }
          break;
        }
        case "commit": {
          if (!upload) throw new HashRelayError("BAD_FRAME", "commit without an upload");
          const manifest = verifyDocument(message.manifest, session.clientKey, "manifest");
          if (manifest.client !== client || manifest.name !== upload.name) {
            throw new HashRelayError("BAD_FRAME", `manifest is for ${manifest.client}/${manifest.name}, session is ${client}/${upload.name}`);
          }
          const current = upload;
          upload = null;
          const latest = ctx.store.latest(client, manifest.name);
          if (latest && latest.archiveId === manifest.archiveId) {
            // Same content as stored (only metadata the walk sees changed): nothing new to keep.
            await current.upload.abort();
            await session.sendControl({ type: "have", receipt: await receiptFor(latest, ctx) });
            log.log("info", `${manifest.name} unchanged (${latest.file})`, { name: manifest.name });
            break;
          }
          const entry = await current.upload.commit({ name: manifest.name, file: manifest.file, archiveId: manifest.archiveId, chunks: manifest.chunks, rawSize: manifest.rawSize });
          await session.sendControl({ type: "receipt", receipt: await receiptFor(entry, ctx) });
          log.log("info", `stored ${client}/${entry.file}`, { name: manifest.name, size: entry.size, config: manifest.configHash?.slice(0, 12) });
          ctx.events?.archiveStored?.(client, entry);
          break;
        }
        default:
          throw new HashRelayError("BAD_FRAME", `unexpected message ${message.type}`);
      }
    }
  } catch (err) {
    const error = asHashRelayError(err);
    if (upload) await upload.upload.abort().catch(() => undefined);
    if (error.code === "CLOSED" || error.code === "TIMEOUT") {
      log.log("warn", `session ended: ${error.message}`);
      connection.close();
    } else {
      log.log("warn", `session refused: ${error.code}: ${error.message}`);
      await session.fail(isWireErrorCode(error.code) ? error.code : "BAD_FRAME", error.code === "UNAUTHORIZED" ? "unauthorized" : error.message);
    }
  }
}

/** The signed receipt of a stored archive (kept in the catalog, signed once). */
async function receiptFor(entry: CatalogEntry, ctx: ServerSessionContext): Promise<SignedDoc> {
  if (entry.receipt) return entry.receipt;
  const receipt = signDocument(
    {
      v: 1,
      kind: "receipt",
      client: entry.client,
      name: entry.name,
      file: entry.file,
      archiveId: entry.archiveId,
      fileSha256: entry.fileSha256,
      size: entry.size,
      storedAt: entry.storedAt,
    },
    ctx.identity,
  );
  await ctx.store.setReceipt(entry.client, entry.file, receipt);
  return receipt;
}

