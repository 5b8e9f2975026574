// One authenticated client session on the server: offers, manifest pages, chunks, commits, receipts.
import { HashRelayError, asHashRelayError, isWireErrorCode, type WireErrorCode } from "../errors.ts";
import { FrameType, IDLE_TIMEOUT_MS } from "../protocol/constants.ts";
import {
  decodeChunkPayload,
  decodeManifestPage,
  encodeManifestPage,
  encodeNeed,
  manifestPages,
  type ManifestEntry,
} from "../protocol/binary-frames.ts";
import { applyChunkDelta, copySourcesOf } from "../archive/chunk-delta.ts";
import { decodeDiffPage, expandDiff } from "../archive/manifest-diff.ts";
import { inflateMember, inflateRawBounded } from "../archive/gzip-member.ts";
import { chunkIdHex } from "../archive/manifest.ts";
import { CHUNK_MAX, MAX_DELTA_SOURCES, MAX_LISTING_PAGE } from "../protocol/constants.ts";
import type { HeldArchive, ListedArchive, ProofMessage } from "../protocol/messages.ts";
import { proofAnswer } from "../protocol/proof.ts";
import { signDocument, verifyDocument, type SignedDoc } from "../protocol/signed-document.ts";
import type { Identity } from "../protocol/identity.ts";
import type { ArchiveSource, Store, CatalogEntry, Upload } from "../store/store.ts";
import { OpenFiles } from "../store/store.ts";
import type { Level, LogFields, Logger } from "../io/log.ts";
import type { Connection } from "../session/connection.ts";
import { openServerSession, type SecureSession } from "../session/secure-session.ts";

export interface ServerSessionContext {
  identity: Identity;
  store: Store;
  log: Logger;
  /** The configured client name for a public key, or null when the key is not listed. */
  authorize: (clientKey: Uint8Array) => string | null;
  now: () => Date;
  /** server.limits in force when the connection arrived (default: the protocol constants). */
  handshakeTimeoutMs?: number;
  idleTimeoutMs?: number;
  /**
   * Told of each authenticated session; `end` closes it with a sealed error (a reload that removed the
   * client). Returns what to call once the session is over.
   */
  track?: (client: string, clientKey: Uint8Array, end: (code: WireErrorCode, reason: string) => void) => () => void;
  /** Told the config hash a client reports in `ping`, once per session and whenever it changes. */
  onConfigHash?: (client: string, hash: string) => void;
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
    session = await openServerSession(connection, ctx.identity, ctx.authorize, ctx.handshakeTimeoutMs);
  } catch (err) {
    const error = asHashRelayError(err, "BAD_FRAME");
    ctx.log.log("warn", `handshake from ${connection.remote} refused: ${error.code}: ${error.message}`, { peer: connection.remote });
    ctx.events?.handshakeRefused?.(error.code);
    connection.close();
    return;
  }
  const client = session.clientName;
  const log = {
    log: (level: Level, message: string, fields: LogFields = {}) => ctx.log.log(level, message, { client, ...fields }),
  };
  log.log("info", `session opened from ${connection.remote}`);
  ctx.events?.sessionOpened?.(client, connection.remote);

  let upload: { name: string; upload: Upload; base: ManifestEntry[] | null; format: "tar.gz" | "tar.zst" } | null = null;
  // Per session, never shared: a client only ever reaches its own chunks.
  const deltaSources = new Map<string, Uint8Array>();
  const deltaFiles = new OpenFiles();
  let endedBy: string | null = null;
  let reportedHash: string | null = null;
  // The archive a verify is challenging, kept open between its `prove` messages.
  let proving = null as { name: string; file: string; source: ArchiveSource } | null;
  const untrack = ctx.track?.(client, session.clientKey, (code, reason) => {
    endedBy = reason;
    void session.fail(code, code === "UNAUTHORIZED" ? "unauthorized" : reason);
  });
  try {
    for (;;) {
      const incoming = await session.receive(ctx.idleTimeoutMs ?? IDLE_TIMEOUT_MS);
      if (incoming.kind === "binary") {
        if (!upload) throw new HashRelayError("BAD_FRAME", "binary frame outside an upload");
        if (incoming.type === FrameType.SEALED_MANIFEST || incoming.type === FrameType.SEALED_MANIFEST_DIFF) {
          const page =
            incoming.type === FrameType.SEALED_MANIFEST
              ? decodeManifestPage(incoming.payload)
              : expandDiffPage(incoming.payload, upload.base);
          const wanted = upload.upload.addManifestPage(page.firstIndex, page.entries);
          const needed = wanted.flatMap((want, i) => (want ? [page.firstIndex + i] : []));
          ctx.events?.manifestPage?.(client, page.entries.length, needed.length);
          await session.sendBinary(FrameType.SEALED_NEED, encodeNeed({ firstIndex: page.firstIndex, count: page.entries.length, needed }));
        } else if (incoming.type === FrameType.SEALED_CHUNK) {
          const chunk = decodeChunkPayload(incoming.payload);
          await staged(upload.upload, upload.upload.addChunk(chunk.index, chunk.member));
          ctx.events?.chunkReceived?.(client, chunk.member.length);
        } else if (incoming.type === FrameType.SEALED_CHUNK_DELTA) {
          if (!upload.base) throw new HashRelayError("BAD_FRAME", "chunk delta without an accepted base");
          const { index, raw } = await rebuildFromDelta(incoming.payload, upload.upload, client, ctx.store, deltaSources, deltaFiles);
          await staged(upload.upload, upload.upload.addRawChunk(index, raw));
          // what crossed the wire for this chunk: the delta, not the chunk it rebuilds (the client counts the same)
          ctx.events?.chunkReceived?.(client, incoming.payload.length - 4);
        } else {
          throw new HashRelayError("BAD_FRAME", `unexpected frame type 0x${incoming.type.toString(16)}`);
        }
        continue;
      }
      const message = incoming.message;
      switch (message.type) {
        case "ping":
          if (message.configHash && message.configHash !== reportedHash) {
            reportedHash = message.configHash;
            ctx.onConfigHash?.(client, message.configHash);
          }
          await session.sendControl({ type: "pong", id: message.id, serverTime: Date.now() });
          break;
        case "bye":
          log.log("info", "session closed");
          connection.close();
          return;
        case "offer": {
          if (upload) throw new HashRelayError("BAD_FRAME", "offer during an upload");
          // The files, not the index, decide what is held: someone may have deleted or edited one.
          await ctx.store.refreshClient(client);
          const latest = ctx.store.latest(client, message.name);
          if (message.archiveId && latest && latest.archiveId === message.archiveId) {
            await session.sendControl({
              type: "have",
              receipt: await receiptFor(latest, ctx),
              ...heldField(ctx.store, client, message.name),
            });
            log.log("info", `${message.name} unchanged (${latest.file})`, { name: message.name });
          } else {
            // The base: an archive of this client both sides know, for manifest diffs and chunk deltas.
            const baseEntry = message.base ? ctx.store.findById(client, message.base) : undefined;
            const base = baseEntry
              ? baseEntry.members.map(([hex, , , rawLength]) => ({ id: new Uint8Array(Buffer.from(hex, "hex")), rawLength }))
              : null;
            // the base's chunks are stored: its pages need no index probe for them
            const knownStored = baseEntry ? new Set(baseEntry.members.map(([hex]) => hex)) : null;
            upload = {
              name: message.name,
              upload: ctx.store.beginUpload(client, message.name, message.format, knownStored),
              base,
              format: message.format ?? "tar.gz",
            };
            await session.sendControl({ type: "send-manifest", ...(message.base ? { base: base !== null } : {}) });
          }
          break;
        }
        case "commit": {
          if (!upload) throw new HashRelayError("BAD_FRAME", "commit without an upload");
          const manifest = verifyDocument(message.manifest, session.clientKey, "manifest");
          if (manifest.client !== client || manifest.name !== upload.name) {
            throw new HashRelayError(
              "BAD_FRAME",
              `manifest is for ${manifest.client}/${manifest.name}, session is ${client}/${upload.name}`,
            );
          }
          const current = upload;
          upload = null;
          const latest = ctx.store.latest(client, manifest.name);
          if (latest && latest.archiveId === manifest.archiveId) {
            // Same content as stored (only metadata the walk sees changed): nothing new to keep.
            await current.upload.abort();
            await session.sendControl({
              type: "have",
              receipt: await receiptFor(latest, ctx),
              ...heldField(ctx.store, client, manifest.name),
            });
            log.log("info", `${manifest.name} unchanged (${latest.file})`, { name: manifest.name });
            break;
          }
          const entry = await current.upload.commit({
            name: manifest.name,
            file: manifest.file,
            archiveId: manifest.archiveId,
            chunks: manifest.chunks,
            rawSize: manifest.rawSize,
          });
          await session.sendControl({
            type: "receipt",
            receipt: await receiptFor(entry, ctx),
            ...heldField(ctx.store, client, manifest.name),
          });
          log.log("info", `stored ${client}/${entry.file}`, {
            name: manifest.name,
            size: entry.size,
            config: manifest.configHash?.slice(0, 12),
          });
          ctx.events?.archiveStored?.(client, entry);
          break;
        }
        case "fetch": {
          if (upload) throw new HashRelayError("BAD_FRAME", "fetch during an upload");
          const sent = await sendArchive(session, ctx.store, client, message.name, message.file, message.manifestOnly === true);
          log.log(
            "info",
            message.manifestOnly
              ? `sent the chunk list of ${client}/${message.file} (${sent} chunks) for a verify`
              : `sent ${client}/${message.file} (${sent} chunks) for a restore`,
            { name: message.name },
          );
          break;
        }
        case "prove": {
          if (upload) throw new HashRelayError("BAD_FRAME", "prove during an upload");
          if (proving?.file !== message.file || proving.name !== message.name) {
            await proving?.source.close();
            proving = null;
            proving = { name: message.name, file: message.file, source: await ctx.store.archiveToSend(client, message.name, message.file) };
          }
          const answers = await answerChallenges(proving.source, message.items);
          const errors = answers.flatMap((a) => ("error" in a ? [a.error] : []));
          await session.sendControl({ type: "proof", file: message.file, answers });
          if (errors.length > 0)
            log.log(
              "warn",
              `verify of ${client}/${message.file}: ${errors.length} of ${answers.length} challenged members could not be read`,
              {
                name: message.name,
                first: errors[0],
              },
            );
          break;
        }
        case "list": {
          if (upload) throw new HashRelayError("BAD_FRAME", "list during an upload");
          const archives = await listArchives(ctx.store, client, message.name);
          for (let at = 0; at === 0 || at < archives.length; at += MAX_LISTING_PAGE) {
            const page = archives.slice(at, at + MAX_LISTING_PAGE);
            await session.sendControl({ type: "listing", archives: page, more: at + MAX_LISTING_PAGE < archives.length });
          }
          log.log("info", `listed ${archives.length} archives${message.name ? ` of ${message.name}` : ""}`);
          break;
        }
        default:
          throw new HashRelayError("BAD_FRAME", `unexpected message ${message.type}`);
      }
    }
  } catch (err) {
    const error = asHashRelayError(err);
    if (upload) await upload.upload.abort().catch(() => undefined);
    if (endedBy) {
      log.log("warn", `session ended: ${endedBy}`);
      connection.close();
    } else if (error.code === "CLOSED" || error.code === "TIMEOUT") {
      log.log("warn", `session ended: ${error.message}`);
      connection.close();
    } else {
      log.log("warn", `session refused: ${error.code}: ${error.message}`);
      await session.fail(
        isWireErrorCode(error.code) ? error.code : "BAD_FRAME",
        error.code === "UNAUTHORIZED" ? "unauthorized" : error.message,
      );
    }
  } finally {
    untrack?.();
    deltaFiles.close();
    await proving?.source.close().catch(() => undefined);
  }
}

function expandDiffPage(payload: Uint8Array, base: ManifestEntry[] | null): { firstIndex: number; entries: ManifestEntry[] } {
  if (!base) throw new HashRelayError("BAD_FRAME", "manifest diff without an accepted base");
  const page = decodeDiffPage(payload);
  return { firstIndex: page.firstIndex, entries: expandDiff(page.ops, base, page.count) };
}

/**
 * Chunk bytes a session may hold accepted but not yet in the staging file (being compressed or
 * written) before it stops reading frames: the next frames are decrypted and checked while the
 * previous chunks are written, within a bound.
 */
const STAGING_BACKLOG_BYTES = 8 * 1024 * 1024;

/** Waits for `writing` (a chunk's staging) only when the upload's backlog is over STAGING_BACKLOG_BYTES. */
async function staged(upload: Upload, writing: Promise<void>): Promise<void> {
  if (upload.backlog > STAGING_BACKLOG_BYTES) await writing;
}

/** Raw chunks read for deltas kept per session (the next deltas reuse the same old chunks). */
const DELTA_SOURCE_CACHE = 32;

/**
 * A CHUNK_DELTA payload (u32 index | raw-deflate of the ops) turned into the chunk's raw bytes: ops
 * applied over this client's stored chunks. The upload checks them against the chunk id, then
 * compresses them into the member it stores (Upload.addRawChunk). Throws BAD_FRAME, TOO_LARGE, HASH_MISMATCH.
 */
async function rebuildFromDelta(
  payload: Uint8Array,
  upload: Upload,
  client: string,
  store: Store,
  deltaCache: Map<string, Uint8Array>,
  files: OpenFiles,
): Promise<{ index: number; raw: Uint8Array }> {
  if (payload.length < 5) throw new HashRelayError("BAD_FRAME", "chunk delta shorter than its header");
  const index = new DataView(payload.buffer, payload.byteOffset, payload.length).getUint32(0);
  const entry = upload.entryAt(index);
  if (!entry) throw new HashRelayError("BAD_FRAME", `chunk delta for entry ${index}, which no page announced`);
  // Ops hold at most the chunk's bytes as literals plus one 41-byte copy per 256-byte block.
  const ops = inflateRawBounded(payload.subarray(4), entry.rawLength + 41 * Math.ceil(CHUNK_MAX / 256));
  const sources = new Map<string, Uint8Array>();
  const ids = copySourcesOf(ops);
  // A real delta copies from a handful of old chunks; reading hundreds for one frame is abuse.
  if (new Set(ids.map(chunkIdHex)).size > MAX_DELTA_SOURCES)
    throw new HashRelayError("BAD_FRAME", `chunk delta copies from more than ${MAX_DELTA_SOURCES} chunks`);
  for (const id of ids) {
    const hex = chunkIdHex(id);
    if (sources.has(hex)) continue;
    const raw = deltaCache.get(hex) ?? store.readChunk(client, hex, files);
    if (raw) {
      sources.set(hex, raw);
      deltaCache.set(hex, raw);
      if (deltaCache.size > DELTA_SOURCE_CACHE) deltaCache.delete(deltaCache.keys().next().value!);
    }
  }
  const raw = applyChunkDelta(ops, entry.rawLength, (id) => sources.get(chunkIdHex(id)) ?? null);
  return { index, raw };
}

/**
 * Restore: `fetching`, the archive's manifest as MANIFEST pages, then every member as a CHUNK frame in
 * order. Members go as read, unchecked: the client verifies each against the manifest it signed.
 * Returns the chunk count. Throws STORAGE when the archive is not held or cannot be read.
 */
async function sendArchive(
  session: SecureSession,
  store: Store,
  client: string,
  name: string,
  file: string,
  manifestOnly: boolean,
): Promise<number> {
  const source = await store.archiveToSend(client, name, file);
  try {
    await session.sendControl({
      type: "fetching",
      file,
      size: source.size,
      chunks: source.members.length,
      ...(source.trashed ? { trashed: true as const } : {}),
    });
    const entries = source.members.map((m) => ({ id: new Uint8Array(Buffer.from(m.id, "hex")), rawLength: m.rawLength }));
    for (const page of manifestPages(entries)) await session.sendBinary(FrameType.SEALED_MANIFEST, encodeManifestPage(page));
    if (manifestOnly) return source.members.length;
    for (const [index, m] of source.members.entries()) {
      const payload = new Uint8Array(4 + m.length);
      new DataView(payload.buffer).setUint32(0, index, false);
      payload.set(await source.read(m.offset, m.length), 4);
      await session.sendBinary(FrameType.SEALED_CHUNK, payload);
    }
    return source.members.length;
  } finally {
    await source.close();
  }
}

/**
 * Answers each challenge from the bytes on disk now: member `index` is read where the catalog says it
 * is, inflated (bounded by its recorded raw length) and hashed with the nonce. A member that cannot be
 * read or inflated gets an error answer, never a guess. Never throws for a damaged member.
 */
async function answerChallenges(
  source: ArchiveSource,
  items: readonly { index: number; nonce: string }[],
): Promise<ProofMessage["answers"]> {
  const answers: ProofMessage["answers"] = [];
  for (const { index, nonce } of items) {
    const member = source.members[index];
    if (!member) {
      answers.push({ index, error: `the archive has ${source.members.length} members` });
      continue;
    }
    try {
      const raw = inflateMember(await source.read(member.offset, member.length), member.rawLength);
      answers.push({ index, hash: Buffer.from(proofAnswer(Buffer.from(nonce, "hex"), raw)).toString("hex") });
    } catch (err) {
      answers.push({
        index,
        error: `member ${index} at byte ${member.offset}: ${(err as Error).message}`.slice(0, 200).replace(/[\u0000-\u001f\u007f]/g, " "),
      });
    }
  }
  return answers;
}

/** This client's stored archives (oldest first), then its trashed ones with their purge time; only of `name` when given. */
async function listArchives(store: Store, client: string, name?: string): Promise<ListedArchive[]> {
  const stored: ListedArchive[] = store
    .list(client)
    .map((e) => ({ name: e.name, file: e.file, size: e.size, archiveId: e.archiveId, fileSha256: e.fileSha256, storedAt: e.storedAt }));
  const trashed: ListedArchive[] = (await store.listTrashed(client)).map((t) => ({
    name: t.name,
    file: t.file,
    size: t.size,
    archiveId: t.archiveId,
    fileSha256: t.fileSha256,
    storedAt: t.storedAt,
    trashed: true,
    purgeAt: t.purgeAt,
  }));
  return [...stored, ...trashed].filter((a) => name === undefined || a.name === name);
}

/** `held` for have/receipt while the name is held: the client reports it (store/holds.ts). */
function heldField(store: Store, client: string, name: string): { held?: HeldArchive } {
  const hold = store.holdOf(client, name);
  return hold ? { held: { file: hold.kept, since: hold.since, reason: hold.reason.slice(0, 300) } } : {};
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
