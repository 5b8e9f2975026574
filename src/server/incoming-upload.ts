// Receiving one archive (PROTOCOL.md §10 steps 3–6): the offer's answer, manifest pages -> NEED, chunks and deltas, commit -> receipt.
import { HashRelayError } from "../errors.ts";
import { expandDiff, type BaseEntries } from "../archive/manifest-diff.ts";
import { decodeDiffPage } from "../archive/manifest-diff-page.ts";
import { FrameType, STREAM_VERSION } from "../protocol/constants.ts";
import { ChunkStreamReader } from "../io/chunk-stream.ts";
import { decodeChunkPayload, decodeManifestPage, encodeNeed, type ManifestEntry } from "../protocol/binary-frames.ts";
import type { CommitMessage, OfferMessage } from "../protocol/messages.ts";
import { verifyDocument, type ManifestBody, type SignedDoc } from "../protocol/signed-document.ts";
import type { IndexEntry, Upload } from "../store/store.ts";
import { hashRequestOver, rebuildBatch, rebuildFromDelta, type DeltaSources } from "./delta-sources.ts";
import { heldField, receiptFor, signReceipt } from "./receipts.ts";
import type { SessionScope } from "./session-context.ts";
import { processStreamGrants, type StreamGrants } from "./stream-grants.ts";

/**
 * Chunk bytes a session may hold accepted but not yet in the staging file (being compressed or
 * written) before it stops reading frames: the next frames are decrypted and checked while the
 * previous chunks are written, within a bound.
 */
const STAGING_BACKLOG_BYTES = 8 * 1024 * 1024;

/**
 * Answers `have` with the latest archive's receipt when the offer names that archive's id and it is not
 * known damaged: "have", nothing to receive. Otherwise the archive must travel (begin an
 * IncomingUpload): "send", with the file when the claimed archive is damaged (PROTOCOL.md §10 step 3:
 * `send-manifest` says so). Throws what the store and the session throw.
 */
export async function answerHeldOffer(scope: SessionScope, message: OfferMessage): Promise<"have" | { damaged?: string }> {
  const { ctx, client, log } = scope;
  // The files, not the index, decide what is held: someone may have deleted or edited one.
  await ctx.store.refreshClient(client);
  const latest = ctx.store.latest(client, message.name);
  if (!message.archiveId || !latest || latest.archiveId !== message.archiveId) return {};
  if (ctx.store.damage.get(client, latest.file)) {
    log.log("warn", `${message.name} unchanged, but ${latest.file} is damaged: asking for it again`, { name: message.name });
    return { damaged: latest.file };
  }
  await sendHave(scope, latest, message.name);
  return "have";
}

/**
 * The upload an offer opens, with the offered base when this client holds it, once the store found it
 * room. Throws what Store.admitUpload (QUOTA, NO_SPACE) and Store.beginUpload (BAD_FRAME, BUSY) throw.
 */
export async function beginIncomingUpload(scope: SessionScope, message: OfferMessage, deltaSources: DeltaSources): Promise<IncomingUpload> {
  const { store } = scope.ctx;
  await store.admitUpload(scope.client, message.name);
  // The base: an archive of this client both sides know, for manifest diffs and chunk deltas.
  // Read from the index a page at a time: a base of millions of chunks is never held whole.
  const base = (message.base && store.base(scope.client, message.base)) || null;
  // the base's chunks are stored: its pages need no index probe for them
  const knownStored = base?.knownStored() ?? null;
  const upload = store.beginUpload(scope.client, message.name, message.format, knownStored);
  return new IncomingUpload(scope, message.name, upload, base, deltaSources);
}

/** `have` with the receipt of `latest`, the stored archive of `name` the client already holds. */
async function sendHave(scope: SessionScope, latest: IndexEntry, name: string): Promise<void> {
  await scope.session.sendControl({
    type: "have",
    receipt: await receiptFor(latest, scope),
    ...heldField(scope.ctx.store, scope.client, name),
  });
  scope.log.log("info", `${name} unchanged (${latest.file})`, { name });
}

/**
 * One archive of source `name` on its way in: askForManifest, then its binary frames go to
 * receiveFrame, then checkCommit and commit — or abort when the session ends first.
 */
export class IncomingUpload {
  /** The first indexes of the last two pages received: a HASH_REQUEST names one of them (§8.8). */
  private readonly recentPages: number[] = [];
  /** The page the last HASH_REQUEST named: each names a later one. */
  private lastAsked = -1;
  /** Version 6: whether `send-manifest` let whole chunks come as a chunk stream (§8.10), and its decoder once one came. */
  private streamGranted = false;
  private stream: ChunkStreamReader | null = null;
  private readonly grants: StreamGrants;

  constructor(
    private readonly scope: SessionScope,
    readonly name: string,
    private readonly upload: Upload,
    /** The accepted base's manifest (diff pages and deltas refer to it), or null without one. */
    private readonly base: BaseEntries | null,
    private readonly deltaSources: DeltaSources,
  ) {
    this.grants = scope.ctx.streams ?? processStreamGrants;
  }

  /** `send-manifest`; after an offer with a base, it says whether that base was accepted; `damaged`: the claimed archive, known damaged. */
  async askForManifest(offeredBase: boolean, damaged?: string): Promise<void> {
    // Members the server makes of a stream cost it a deflate per chunk: granted while its threads have room.
    this.streamGranted = this.scope.session.version >= STREAM_VERSION && this.grants.room();
    await this.scope.session.sendControl({
      type: "send-manifest",
      ...(offeredBase ? { base: this.base !== null } : {}),
      ...(damaged ? { damaged } : {}),
      ...(this.streamGranted ? { stream: true } : {}),
    });
  }

  /**
   * A MANIFEST or MANIFEST_DIFF page (answered with NEED), a CHUNK, a CHUNK_DELTA or a CONTEXT_DELTA. Throws BAD_FRAME,
   * TOO_LARGE, HASH_MISMATCH, and NO_SPACE or QUOTA once staging found no room.
   */
  async receiveFrame(type: number, payload: Uint8Array): Promise<void> {
    if (type === FrameType.SEALED_MANIFEST || type === FrameType.SEALED_MANIFEST_DIFF) await this.receivePage(type, payload);
    else if (type === FrameType.SEALED_CHUNK) await this.receiveChunk(payload);
    else if (type === FrameType.SEALED_CHUNK_DELTA || type === FrameType.SEALED_CONTEXT_DELTA) await this.receiveDelta(type, payload);
    else if (type === FrameType.SEALED_HASH_REQUEST && this.scope.session.version >= 3) await this.answerHashes(payload);
    else if (type === FrameType.SEALED_DELTA_BATCH && this.scope.session.version >= 3) await this.receiveBatch(payload);
    else if (type === FrameType.SEALED_CHUNK_STREAM && this.streamGranted) await this.receiveStreamed(payload);
    else throw new HashRelayError("BAD_FRAME", `unexpected frame type 0x${type.toString(16)}`);
  }

  private async receivePage(type: number, payload: Uint8Array): Promise<void> {
    const page =
      type === FrameType.SEALED_MANIFEST
        ? { ...decodeManifestPage(payload), derived: [] }
        : expandDiffPage(payload, this.base, this.scope.session.version >= 4);
    const wanted = this.upload.addManifestPage(page.firstIndex, page.entries, page.derived);
    this.recentPages.push(page.firstIndex);
    if (this.recentPages.length > 2) this.recentPages.shift();
    const needed = wanted.flatMap((want, i) => (want ? [page.firstIndex + i] : []));
    this.scope.ctx.events?.manifestPage?.(this.scope.client, page.entries.length, needed.length);
    await this.scope.session.sendBinary(
      FrameType.SEALED_NEED,
      encodeNeed({ firstIndex: page.firstIndex, count: page.entries.length, needed }),
    );
  }

  private async receiveChunk(payload: Uint8Array): Promise<void> {
    const chunk = decodeChunkPayload(payload);
    await this.staged(this.upload.addChunk(chunk.index, chunk.member));
    this.scope.ctx.events?.chunkReceived?.(this.scope.client, chunk.member.length);
  }

  /** A CHUNK_STREAM (version 6, §8.10): the chunk decoded from the upload's stream, checked and stored as a delta's. */
  private async receiveStreamed(payload: Uint8Array): Promise<void> {
    if (payload.length < 4) throw new HashRelayError("BAD_FRAME", "chunk stream frame shorter than its index");
    const index = new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0);
    const entry = this.upload.entryAt(index);
    if (!entry) throw new HashRelayError("BAD_FRAME", `chunk ${index} of ${this.name} was not asked for`);
    if (!this.stream) {
      this.stream = new ChunkStreamReader();
      this.grants.started();
    }
    const raw = await this.stream.read(payload.subarray(4), entry.rawLength, `chunk ${index} of ${this.name}`);
    await this.staged(this.upload.addRawChunk(index, raw));
    this.scope.ctx.events?.chunkReceived?.(this.scope.client, payload.length - 4);
  }

  private async receiveDelta(type: number, payload: Uint8Array): Promise<void> {
    if (!this.base) throw new HashRelayError("BAD_FRAME", "chunk delta without an accepted base");
    const base = this.base;
    // version 3: a context delta's copies may name base entries by their place (§8.7 BASE_COPY)
    const baseId = this.scope.session.version >= 3 ? (i: number) => (i < base.length ? base.at(i)?.id : undefined) : undefined;
    const { index, raw } = await rebuildFromDelta(type, payload, this.upload, this.deltaSources, baseId);
    await this.staged(this.upload.addRawChunk(index, raw));
    // what crossed the wire for this chunk: the delta, not the chunk it rebuilds (the client counts the same)
    this.scope.ctx.events?.chunkReceived?.(this.scope.client, payload.length - 4);
  }

  /** A DELTA_BATCH (version 3, §8.9): each chunk rebuilt and checked as the CHUNK of its index, in order. */
  private async receiveBatch(payload: Uint8Array): Promise<void> {
    if (!this.base) throw new HashRelayError("BAD_FRAME", "chunk delta without an accepted base");
    const rawLengthOf = (i: number) => this.upload.entryAt(i)?.rawLength;
    const chunks = rebuildBatch(payload, rawLengthOf, this.base, this.deltaSources, this.scope.session.version >= 4);
    for (const [i, { index, raw }] of chunks.entries()) {
      await this.staged(this.upload.addRawChunk(index, raw));
      // what crossed the wire: the batch, counted with its first chunk
      this.scope.ctx.events?.chunkReceived?.(this.scope.client, i === 0 ? payload.length : 0);
    }
  }

  /** A HASH_REQUEST (version 3, §8.8): answered with the hashes of the base's sub-blocks it names. */
  private async answerHashes(payload: Uint8Array): Promise<void> {
    if (!this.base) throw new HashRelayError("BAD_FRAME", "hash request without an accepted base");
    const { firstIndex, answer } = hashRequestOver(payload, this.base, this.deltaSources);
    if (!this.recentPages.includes(firstIndex) || firstIndex <= this.lastAsked)
      throw new HashRelayError("BAD_FRAME", `hash request for page ${firstIndex}, not one of the last two pages or asked before`);
    this.lastAsked = firstIndex;
    await this.scope.session.sendBinary(FrameType.SEALED_SUB_HASHES, answer());
  }

  /** Waits for `writing` (a chunk's staging) only when the upload's backlog is over STAGING_BACKLOG_BYTES. */
  private async staged(writing: Promise<void>): Promise<void> {
    if (this.upload.backlog > STAGING_BACKLOG_BYTES) await writing;
  }

  /**
   * The commit's manifest, once its signature is the session's client's and it names this client and
   * upload. Throws UNAUTHORIZED (signature) or BAD_FRAME; the upload stays open (abort it then).
   */
  checkCommit(message: CommitMessage): ManifestBody {
    const { client, session } = this.scope;
    const manifest = verifyDocument(message.manifest, session.clientKey, "manifest");
    if (manifest.client !== client || manifest.name !== this.name) {
      throw new HashRelayError("BAD_FRAME", `manifest is for ${manifest.client}/${manifest.name}, session is ${client}/${this.name}`);
    }
    return manifest;
  }

  /**
   * Ends the upload with the checked manifest (`signed`: as the client signed it): `have` when the latest
   * stored archive has its id and is not known damaged (nothing new kept), else the archive stored with its signed record and
   * `receipt`. The upload is closed afterwards, stored or not. Throws what Upload.commit throws
   * (BAD_FRAME, HASH_MISMATCH, NO_SPACE, QUOTA, STORAGE).
   */
  async commit(manifest: ManifestBody, signed: SignedDoc): Promise<void> {
    this.deltaSources.forget();
    this.endStream();
    const { ctx, client, session, log } = this.scope;
    const latest = ctx.store.latest(client, manifest.name);
    if (latest && latest.archiveId === manifest.archiveId && !ctx.store.damage.get(client, latest.file)) {
      // Same content as stored (only metadata the walk sees changed): nothing new to keep.
      await this.upload.abort();
      await sendHave(this.scope, latest, manifest.name);
      return;
    }
    const { name, file, archiveId, chunks, rawSize } = manifest;
    // The receipt goes as soon as the archive is stored and judged, before retention trashes its predecessor.
    const receipt: { sent: boolean; failure?: unknown } = { sent: false };
    const sendReceipt = async (stored: IndexEntry) => {
      receipt.sent = true;
      log.log("info", `stored ${client}/${stored.file}`, { name, size: stored.size, config: manifest.configHash?.slice(0, 12) });
      ctx.events?.archiveStored?.(client, stored);
      try {
        await session.sendControl({
          type: "receipt",
          receipt: await receiptFor(stored, this.scope),
          ...heldField(ctx.store, client, name),
        });
      } catch (err) {
        receipt.failure = err; // thrown once the commit (retention) is over
      }
    };
    const entry = await this.upload.commit(
      { name, file, archiveId, chunks, rawSize },
      { manifest: signed, signReceipt: (facts) => signReceipt(facts, ctx.identity), stored: sendReceipt },
    );
    // Not called when the file was stored already with this id (a retried commit): the receipt goes now.
    if (!receipt.sent) await sendReceipt(entry);
    if (receipt.failure) throw receipt.failure;
  }

  /** The stream's grant back, its decoder closed; once. */
  private endStream(): void {
    if (this.stream) this.grants.ended();
    this.streamGranted = false;
    this.stream?.close();
    this.stream = null;
  }

  /** Gives the upload up (its staged chunks stay in the pool for a retry); never throws. */
  async abort(): Promise<void> {
    this.deltaSources.forget();
    this.endStream();
    await this.upload.abort().catch(() => undefined);
  }
}

/** A MANIFEST_DIFF page's entries (`compact`: a version-4 session, §8.5), its derived ones' page places in `derived`. */
function expandDiffPage(
  payload: Uint8Array,
  base: BaseEntries | null,
  compact: boolean,
): { firstIndex: number; entries: ManifestEntry[]; derived: number[] } {
  if (!base) throw new HashRelayError("BAD_FRAME", "manifest diff without an accepted base");
  const page = decodeDiffPage(payload, compact);
  return { firstIndex: page.firstIndex, ...expandDiff(page.ops, base, page.count) };
}
