// Chunk deltas turned back into chunks: ops applied over this client's stored chunks, read through a small per-session cache.
import { HashRelayError } from "../errors.ts";
import { applyChunkDelta, copySourcesOf } from "../archive/chunk-delta.ts";
import { applyContextDelta, decodeContextDelta } from "../archive/context-delta.ts";
import type { BaseEntries } from "../archive/manifest-diff.ts";
import { answerHashRequest, decodeHashRequest } from "../archive/sub-block-hashes.ts";
import { batchContext, decodeDeltaBatch, fillBatchLiterals, placeBatchCopies, type BatchChunk } from "../archive/delta-batch.ts";
import { inflateRawBounded } from "../archive/gzip-member.ts";
import { chunkIdHex } from "../archive/manifest.ts";
import { CHUNK_MAX, FrameType, MAX_DELTA_SOURCES } from "../protocol/constants.ts";
import { OpenFiles, type Store, type Upload } from "../store/store.ts";

/**
 * Raw bytes of the chunks read for deltas kept per session: a page's HASH_REQUEST reads the base chunks
 * around its changes, and its DELTA_BATCH then copies from the same chunks, in the same order. Inflating
 * one is most of the cost of reading it, and a page's changes read ~100 of them (~6 MiB at 64 KiB each,
 * ~10 MiB at the generated tree's ~100 KiB): a cache of 32 chunks read most of them twice. 8 MiB holds
 * most of such a page, and MAX_CONNECTIONS sessions with deltas in flight hold at most that each,
 * dropped when their upload ends.
 */
export const DELTA_SOURCE_CACHE_BYTES = 8 * 1024 * 1024;

/** A cached chunk's buffer is allocated in steps of this many bytes, so that a dropped one fits most later chunks. */
const BUFFER_STEP = 16 * 1024;

/**
 * One client's stored chunks as delta sources, for one session: never shared, so a client only ever
 * reaches its own chunks. Holds files open until close().
 *
 * Room is made from the chunks of pages before the last two first (least recently used first), then
 * from the most recently used chunk. A page's DELTA_BATCH reads its chunks again in the order its
 * HASH_REQUEST read them, often after the next page's HASH_REQUEST (the client sends each page as soon as
 * it is built). Plain LRU dropped each chunk just before the DELTA_BATCH asked for it again whenever a
 * page read more than the cache holds (the generated tree's C at scale 0.25: 66 of 66 read twice); this
 * way a page's first 8 MiB stay until the page after next, and the chunk read last stays for the next
 * delta, which often copies from it too.
 *
 * The buffers of chunks dropped from the cache are reused for the next chunks read: a fresh ~100 KiB
 * buffer per chunk cost the server more than inflating it (C at scale 1 reads ~250 chunks: ~270 ms
 * of the main thread in allocation against ~90 ms of inflate). A dropped buffer is reused only after
 * the synchronous call that dropped it returned (a microtask later), as a caller may still hold it.
 */
export class DeltaSources {
  /** Raw chunks by hex id, least recently used first, each a view of its buffer and the page it was read for; `cachedBytes` their buffers' total. */
  private readonly cache = new Map<string, { raw: Uint8Array; page: number }>();
  private cachedBytes = 0;
  /** Counts the HASH_REQUESTs: the page whose base chunks are being read. */
  private page = 0;
  /** Buffers of chunks dropped during the current call; `spare` once it returned. */
  private dropped: ArrayBuffer[] = [];
  private spare: ArrayBuffer[] = [];
  private readonly files = new OpenFiles();

  constructor(
    private readonly store: Pick<Store, "readChunk">,
    private readonly client: string,
  ) {}

  /**
   * The raw bytes of stored chunk `hex`, or null when this client holds no such chunk. Valid until the
   * caller returns to the event loop (or awaits): use them in the synchronous call that read them.
   */
  read(hex: string): Uint8Array | null {
    const cached = this.cache.get(hex);
    if (cached) {
      this.cache.delete(hex);
      this.cache.set(hex, cached);
      return cached.raw;
    }
    const raw = this.store.readChunk(this.client, hex, this.files);
    if (!raw) return null;
    const own = new Uint8Array(this.bufferFor(raw.length), 0, raw.length);
    own.set(raw);
    this.keep(hex, own);
    return own;
  }

  /** A HASH_REQUEST names a new page: the chunks read for pages before the last two are the first to go. */
  nextPage(): void {
    this.page++;
  }

  /** Drops the cached chunks and their buffers (an upload ended: the next one reads other chunks); the files stay open. */
  forget(): void {
    this.cache.clear();
    this.cachedBytes = 0;
    this.dropped = [];
    this.spare = [];
  }

  close(): void {
    this.forget();
    this.files.close();
  }

  /** A spare buffer of at least `length` bytes, else a new one. */
  private bufferFor(length: number): ArrayBuffer {
    const at = this.spare.findIndex((b) => b.byteLength >= length);
    if (at >= 0) return this.spare.splice(at, 1)[0]!;
    return new ArrayBuffer(Math.ceil(length / BUFFER_STEP) * BUFFER_STEP);
  }

  /**
   * Caches `raw` as chunk `hex`, making room within DELTA_SOURCE_CACHE_BYTES from the chunks of pages
   * before the last two (least recently used first), then from the most recently used one.
   */
  private keep(hex: string, raw: Uint8Array): void {
    const bytes = raw.buffer.byteLength;
    for (const [old, entry] of this.cache) {
      if (this.cachedBytes + bytes <= DELTA_SOURCE_CACHE_BYTES) break;
      if (entry.page < this.page - 1) this.evict(old);
    }
    while (this.cachedBytes + bytes > DELTA_SOURCE_CACHE_BYTES && this.cache.size > 0) this.evict([...this.cache.keys()].at(-1)!);
    this.cache.set(hex, { raw, page: this.page });
    this.cachedBytes += bytes;
  }

  /** Drops cached chunk `hex`; its buffer becomes spare once the current call returned. */
  private evict(hex: string): void {
    const entry = this.cache.get(hex)!;
    this.cache.delete(hex);
    this.cachedBytes -= entry.raw.buffer.byteLength;
    this.drop(entry.raw.buffer as ArrayBuffer);
  }

  /** Puts `buffer` aside, spare once the current call returned; spares past DELTA_SOURCE_CACHE_BYTES are let go. */
  private drop(buffer: ArrayBuffer): void {
    if (this.dropped.push(buffer) > 1) return;
    queueMicrotask(() => {
      let spareBytes = this.spare.reduce((sum, b) => sum + b.byteLength, 0);
      for (const b of this.dropped) if ((spareBytes += b.byteLength) <= DELTA_SOURCE_CACHE_BYTES) this.spare.push(b);
      this.dropped = [];
    });
  }
}

/**
 * A CHUNK_DELTA (§8.6) or CONTEXT_DELTA (§8.7) payload (u32 index | body) turned into the chunk's raw
 * bytes: ops applied over this client's stored chunks. `baseId` (a version-3 session) names the base
 * entries a CONTEXT_DELTA's BASE_COPY ops may refer to. The upload checks the bytes against the chunk id,
 * then compresses them into the member it stores (Upload.addRawChunk). Throws BAD_FRAME, TOO_LARGE, HASH_MISMATCH.
 */
export async function rebuildFromDelta(
  type: number,
  payload: Uint8Array,
  upload: Upload,
  stored: DeltaSources,
  baseId?: (baseIndex: number) => Uint8Array | undefined,
): Promise<{ index: number; raw: Uint8Array }> {
  if (payload.length < 5) throw new HashRelayError("BAD_FRAME", "chunk delta shorter than its header");
  const index = new DataView(payload.buffer, payload.byteOffset, payload.length).getUint32(0);
  const entry = upload.entryAt(index);
  if (!entry) throw new HashRelayError("BAD_FRAME", `chunk delta for entry ${index}, which no page announced`);
  const body = payload.subarray(4);
  if (type === FrameType.SEALED_CONTEXT_DELTA) {
    const delta = decodeContextDelta(body, entry.rawLength, baseId);
    const sources = readSources(
      delta.copies.map((c) => c.id),
      stored,
    );
    return { index, raw: applyContextDelta(delta, entry.rawLength, (id) => sources.get(chunkIdHex(id)) ?? null) };
  }
  // Ops hold at most the chunk's bytes as literals plus one 41-byte copy per 256-byte block.
  const ops = inflateRawBounded(body, entry.rawLength + 41 * Math.ceil(CHUNK_MAX / 256));
  const sources = readSources(copySourcesOf(ops), stored);
  const raw = applyChunkDelta(ops, entry.rawLength, (id) => sources.get(chunkIdHex(id)) ?? null);
  return { index, raw };
}

/** The stored chunks a delta copies from, by hex id (those the client does not hold are absent). BAD_FRAME past MAX_DELTA_SOURCES. */
function readSources(ids: Uint8Array[], stored: DeltaSources): Map<string, Uint8Array> {
  // A real delta copies from a handful of old chunks; reading hundreds for one frame is abuse.
  if (new Set(ids.map(chunkIdHex)).size > MAX_DELTA_SOURCES)
    throw new HashRelayError("BAD_FRAME", `chunk delta copies from more than ${MAX_DELTA_SOURCES} chunks`);
  const sources = new Map<string, Uint8Array>();
  for (const id of ids) {
    const hex = chunkIdHex(id);
    if (sources.has(hex)) continue;
    const raw = stored.read(hex);
    if (raw) sources.set(hex, raw);
  }
  return sources;
}

/**
 * A HASH_REQUEST body (PROTOCOL.md §8.8) checked against the accepted base, every limit before anything is
 * allocated for its answer; `answer()` then reads each range's base chunk through `stored` (a chunk it
 * cannot read answers zeros), as a new page of it (DeltaSources.nextPage), and gives the SUB_HASHES body.
 * Throws BAD_FRAME and TOO_LARGE.
 */
export function hashRequestOver(
  body: Uint8Array,
  base: BaseEntries,
  stored: DeltaSources,
): { firstIndex: number; answer: () => Uint8Array } {
  const request = decodeHashRequest(body, (i) => (i < base.length ? base.at(i)?.rawLength : undefined));
  return {
    firstIndex: request.firstIndex,
    answer: () => {
      stored.nextPage();
      return answerHashRequest(request.firstIndex, request.ranges, request.hashes, (i) => stored.read(chunkIdHex(base.at(i)!.id)));
    },
  };
}

/**
 * A DELTA_BATCH body (PROTOCOL.md §8.9) turned into its chunks' raw bytes, in order, over the accepted base:
 * `rawLengthOf(index)` an announced entry's raw length; `withContext` (version 4): its literal stream has
 * the bytes before each run as dictionary. The upload checks each against its chunk id.
 * Throws BAD_FRAME, TOO_LARGE, HASH_MISMATCH.
 */
export function rebuildBatch(
  body: Uint8Array,
  rawLengthOf: (index: number) => number | undefined,
  base: BaseEntries,
  stored: DeltaSources,
  withContext = false,
): { index: number; raw: Uint8Array }[] {
  // each chunk's copies are placed first: in version 4 the bytes before its literal runs are the literal stream's dictionary
  const placed: Uint8Array[] = [];
  const place = (chunks: readonly BatchChunk[]) => {
    for (const chunk of chunks.slice(placed.length)) {
      const sources = readSources(
        chunk.copies.map((c) => c.id),
        stored,
      );
      placed.push(placeBatchCopies(chunk, (id) => sources.get(chunkIdHex(id)) ?? null));
    }
  };
  const dictionaryOf = withContext
    ? (chunks: readonly BatchChunk[]) => (place(chunks), batchContext(chunks.map((c, i) => ({ raw: placed[i]!, literals: c.literals }))))
    : undefined;
  const { chunks, literals } = decodeDeltaBatch(body, rawLengthOf, (p) => (p < base.length ? base.at(p)?.id : undefined), dictionaryOf);
  place(chunks);
  return chunks.map((chunk, i) => ({ index: chunk.index, raw: fillBatchLiterals(placed[i]!, chunk, literals) }));
}
