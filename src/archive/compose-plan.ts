// The multipart plan that composes a new archive object from ranges of the old one and new bytes, within S3's limits.
import { HashRelayError } from "../errors.ts";

/** S3's multipart rules (AWS and Ceph RGW alike). */
export interface PartLimits {
  /** Every part but the last is at least this long. */
  minPart: number;
  maxPart: number;
  maxParts: number;
  maxObject: number;
}

const MiB = 1024 * 1024;
export const S3_PART_LIMITS: PartLimits = { minPart: 5 * MiB, maxPart: 5 * 1024 * MiB, maxParts: 10_000, maxObject: 5 * 1024 * 1024 * MiB };

/** One stretch of the new archive, in order: bytes [start, end) of the old object, or `length` new bytes. */
export type ComposePiece = { kind: "old"; start: number; end: number } | { kind: "new"; length: number };

/** Where an uploaded part's bytes come from: a range of the old object, or bytes [start, end) of new piece `piece` (its index in the input). */
export type PartSource = { kind: "old"; start: number; end: number } | { kind: "new"; piece: number; start: number; end: number };

/** One part, numbered by its place (part number = index + 1): copied inside the store, or uploaded from `sources`. */
export type ComposePart = { kind: "copy"; start: number; end: number } | { kind: "upload"; length: number; sources: PartSource[] };

export interface ComposePlan {
  parts: ComposePart[];
  /** The new object's size. */
  size: number;
  /** The least length of every part but the last: minPart, raised when the object would need over maxParts parts. */
  partFloor: number;
  /** Bytes the store copies from the old object itself (UploadPartCopy). */
  bytesCopied: number;
  /** Bytes sent to the store in uploaded parts: the new bytes plus `bytesUploadedFromOld`. */
  bytesUploaded: number;
  /** Old bytes sent again, to top a part up to the floor (the server holds them, or reads them by range). */
  bytesUploadedFromOld: number;
}

/**
 * Plans the parts of the new object `pieces` describes, copying unchanged runs inside the store in
 * parts as large as allowed and uploading the rest. Every part but the last is at least `partFloor`
 * (= max(minPart, ⌈size / maxParts⌉)) and at most maxPart, so there are never more
 * than maxParts parts. A run of old bytes is copied when what is left of it, after topping up the
 * part being uploaded, is at least the floor (or ends the object); otherwise it is uploaded. So each
 * old run adds fewer than 2 × partFloor old bytes to the upload, and an isolated change of n bytes
 * costs at most n + 2 × 5 MiB uploaded. An empty object has no parts (PUT it instead).
 * Throws TOO_LARGE over maxObject; RangeError for a malformed piece or inconsistent limits.
 */
export function planCompose(pieces: readonly ComposePiece[], limits: PartLimits = S3_PART_LIMITS): ComposePlan {
  const runs = mergedRuns(pieces);
  const size = runs.reduce((sum, run) => sum + runLength(run), 0);
  if (size > limits.maxObject) {
    throw new HashRelayError(
      "TOO_LARGE",
      `the new archive is ${size} bytes, over the object store's ${limits.maxObject}-byte object limit`,
    );
  }
  const partFloor = floorFor(size, limits);
  const builder = new PartBuilder(partFloor, limits.maxPart);
  for (const [index, run] of runs.entries()) {
    if (run.kind === "new") builder.upload(run);
    else builder.oldRun(run.start, run.end, index === runs.length - 1);
  }
  return { ...builder.finish(), size, partFloor };
}

type Run = { kind: "old"; start: number; end: number } | { kind: "new"; piece: number; start: number; end: number };

function runLength(run: Run): number {
  return run.end - run.start;
}

/** The pieces as runs: empty ones dropped, old ranges that continue each other joined. */
function mergedRuns(pieces: readonly ComposePiece[]): Run[] {
  const runs: Run[] = [];
  for (const [piece, p] of pieces.entries()) {
    const [start, end] = p.kind === "old" ? [p.start, p.end] : [0, p.length];
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
      throw new RangeError(`compose piece ${piece} is malformed: ${JSON.stringify(p)}`);
    }
    if (end === start) continue;
    const last = runs.at(-1);
    if (p.kind === "old" && last?.kind === "old" && last.end === start) last.end = end;
    else runs.push(p.kind === "old" ? { kind: "old", start, end } : { kind: "new", piece, start, end });
  }
  return runs;
}

/** The least part length that keeps `size` within maxParts parts; refuses limits under which a copy could not be split. */
function floorFor(size: number, limits: PartLimits): number {
  const floor = Math.max(limits.minPart, Math.ceil(size / limits.maxParts));
  if (2 * floor > limits.maxPart) throw new RangeError(`part limits leave no room: floor ${floor}, max part ${limits.maxPart}`);
  return floor;
}

/** Accumulates parts: uploads fill to exactly the floor, copies go out in as few parts as maxPart allows. */
class PartBuilder {
  private readonly parts: ComposePart[] = [];
  private pending: PartSource[] = [];
  private pendingLength = 0;
  private bytesCopied = 0;
  private bytesUploaded = 0;
  private bytesUploadedFromOld = 0;

  constructor(
    private readonly floor: number,
    private readonly maxPart: number,
  ) {}

  /** Adds `source` to the uploaded parts, closing a part each time it reaches the floor. */
  upload(source: PartSource): void {
    for (let at = source.start; at < source.end; ) {
      const take = Math.min(source.end - at, this.floor - this.pendingLength);
      this.pending.push({ ...source, start: at, end: at + take });
      this.pendingLength += take;
      this.bytesUploaded += take;
      if (source.kind === "old") this.bytesUploadedFromOld += take;
      at += take;
      if (this.pendingLength === this.floor) this.closeUpload();
    }
  }

  /** Old bytes [start, end): top up the part being uploaded from its head, then copy the rest if it can stand as a part. */
  oldRun(start: number, end: number, endsObject: boolean): void {
    if (this.pendingLength > 0) {
      const topUp = Math.min(end - start, this.floor - this.pendingLength);
      this.upload({ kind: "old", start, end: start + topUp });
      start += topUp;
    }
    if (start === end) return;
    if (end - start >= this.floor || endsObject) this.copy(start, end);
    else this.upload({ kind: "old", start, end });
  }

  finish(): Pick<ComposePlan, "parts" | "bytesCopied" | "bytesUploaded" | "bytesUploadedFromOld"> {
    if (this.pendingLength > 0) this.closeUpload();
    const { parts, bytesCopied, bytesUploaded, bytesUploadedFromOld } = this;
    return { parts, bytesCopied, bytesUploaded, bytesUploadedFromOld };
  }

  /** Copies [start, end) in ⌈length / maxPart⌉ parts of near-equal length (each over maxPart / 2 ≥ floor when split). */
  private copy(start: number, end: number): void {
    const total = end - start;
    const count = Math.ceil(total / this.maxPart);
    const base = Math.floor(total / count);
    const longer = total % count;
    for (let i = 0; i < count; i++) {
      const length = base + (i < longer ? 1 : 0);
      this.parts.push({ kind: "copy", start, end: start + length });
      start += length;
    }
    this.bytesCopied += total;
  }

  private closeUpload(): void {
    this.parts.push({ kind: "upload", length: this.pendingLength, sources: this.pending });
    this.pending = [];
    this.pendingLength = 0;
  }
}

/** A member of an archive as the compose needs it: where it lies, and a key equal only for equal bytes (its SHA-256). */
export interface PlacedMember {
  offset: number;
  length: number;
  key: string;
}

/**
 * The pieces of the new archive (`next`, its members in file order, `size` bytes) against the old
 * object (`old`, its members): a member whose bytes the old object holds (same key and length) is an
 * old range, preferring the old member right after the last one matched so that runs stay whole;
 * every other byte (changed members, the bytes between and after members) is new. Feed to planCompose.
 */
export function composePieces(next: Iterable<PlacedMember>, old: readonly PlacedMember[], size: number): ComposePiece[] {
  const firstByKey = new Map<string, number>();
  for (const [index, member] of old.entries()) if (!firstByKey.has(member.key)) firstByKey.set(member.key, index);
  const pieces: ComposePiece[] = [];
  let cursor = 0;
  let lastMatched = -2;
  for (const member of next) {
    const following = old[lastMatched + 1];
    const match = following?.key === member.key ? lastMatched + 1 : firstByKey.get(member.key);
    if (match === undefined || old[match]!.length !== member.length) continue;
    if (member.offset > cursor) pieces.push({ kind: "new", length: member.offset - cursor });
    pieces.push({ kind: "old", start: old[match]!.offset, end: old[match]!.offset + member.length });
    cursor = member.offset + member.length;
    lastMatched = match;
  }
  if (size > cursor) pieces.push({ kind: "new", length: size - cursor });
  return pieces;
}
