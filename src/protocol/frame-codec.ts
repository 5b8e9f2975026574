// Frame codec: `u32 BE length | u8 type | body` out, and a push-driven decoder that checks limits before allocating.
import { HashRelayError } from "../errors.ts";
import { FRAME_HEADER_BYTES, FrameType, MAX_CHUNK_FRAME, MAX_CONTROL_FRAME } from "./constants.ts";

export interface Frame {
  type: number;
  body: Uint8Array;
}

/** Largest body allowed for a frame type; undefined = the type does not exist. */
export type FrameLimits = (type: number) => number | undefined;

/** The v1 limits: SEALED_CHUNK up to MAX_CHUNK_FRAME, every other known type up to MAX_CONTROL_FRAME. */
export const protocolLimits: FrameLimits = (type) => {
  switch (type) {
    case FrameType.HELLO:
    case FrameType.AUTH:
    case FrameType.ERROR:
    case FrameType.SEALED_CONTROL:
    case FrameType.SEALED_MANIFEST:
    case FrameType.SEALED_NEED:
    case FrameType.SEALED_MANIFEST_DIFF:
    case FrameType.SEALED_HASH_REQUEST:
    case FrameType.SEALED_SUB_HASHES:
      return MAX_CONTROL_FRAME;
    case FrameType.SEALED_CHUNK:
    case FrameType.SEALED_CHUNK_DELTA:
    case FrameType.SEALED_CONTEXT_DELTA:
    case FrameType.SEALED_DELTA_BATCH:
    case FrameType.SEALED_CHUNK_STREAM:
      return MAX_CHUNK_FRAME;
    default:
      return undefined;
  }
};

/** "0x13" for messages. */
export function typeName(type: number): string {
  return "0x" + type.toString(16).padStart(2, "0");
}

/**
 * Header + body as one buffer. Throws BAD_FRAME for an unknown type and TOO_LARGE when the body
 * exceeds the type's limit (the peer would refuse it anyway).
 */
export function encodeFrame(type: number, body: Uint8Array, limitOf: FrameLimits = protocolLimits): Uint8Array {
  const limit = limitOf(type);
  if (limit === undefined) throw new HashRelayError("BAD_FRAME", `cannot encode frame of unknown type ${typeName(type)}`);
  if (body.length > limit) {
    throw new HashRelayError("TOO_LARGE", `frame ${typeName(type)} body of ${body.length} bytes exceeds the limit of ${limit}`);
  }
  const out = new Uint8Array(FRAME_HEADER_BYTES + body.length);
  new DataView(out.buffer).setUint32(0, 1 + body.length, false);
  out[4] = type;
  out.set(body, FRAME_HEADER_BYTES);
  return out;
}

/**
 * Push bytes in any split, get whole frames out. Holds at most one header and one body.
 * push() throws BAD_FRAME (length 0, unknown type) or TOO_LARGE (body over the type's limit, detected
 * from the 5 header bytes alone, before the body is allocated or viewed); once it has thrown, every later push throws the same error.
 *
 * Who copies: a body that lies whole within one pushed `bytes` is a view of it (no allocation, no
 * copy: a socket's read holds several chunk frames), a body split across pushes is copied into a
 * buffer of its own. So push() takes `bytes` over: the caller must not change them afterwards (a
 * socket's reads are fresh buffers; a caller that refills one buffer must push a copy).
 */
export class FrameDecoder {
  private readonly limitOf: FrameLimits;
  private readonly header = new Uint8Array(FRAME_HEADER_BYTES);
  private headerFill = 0;
  private body: Uint8Array | null = null;
  private bodyFill = 0;
  private bodyType = 0;
  private failure: HashRelayError | null = null;

  constructor(limitOf: FrameLimits = protocolLimits) {
    this.limitOf = limitOf;
  }

  /** Bytes currently held for an incomplete frame (header bytes + allocated body). */
  get buffered(): number {
    return this.headerFill + (this.body?.length ?? 0);
  }

  /** True when no partial frame is pending (a clean place for the stream to end). */
  get idle(): boolean {
    return this.headerFill === 0 && this.body === null;
  }

  push(bytes: Uint8Array): Frame[] {
    if (this.failure) throw this.failure;
    const frames: Frame[] = [];
    let at = 0;
    try {
      while (at < bytes.length) {
        if (this.body === null) {
          const take = Math.min(FRAME_HEADER_BYTES - this.headerFill, bytes.length - at);
          this.header.set(bytes.subarray(at, at + take), this.headerFill);
          this.headerFill += take;
          at += take;
          if (this.headerFill >= 4) this.checkLength();
          if (this.headerFill < FRAME_HEADER_BYTES) break;
          at += this.startBody(frames, bytes, at);
          continue;
        }
        const take = Math.min(this.body.length - this.bodyFill, bytes.length - at);
        this.body.set(bytes.subarray(at, at + take), this.bodyFill);
        this.bodyFill += take;
        at += take;
        if (this.bodyFill === this.body.length) {
          frames.push({ type: this.bodyType, body: this.body });
          this.body = null;
        }
      }
    } catch (err) {
      this.failure = err as HashRelayError;
      this.body = null;
      this.headerFill = 0;
      throw err;
    }
    return frames;
  }

  private declaredLength(): number {
    return new DataView(this.header.buffer).getUint32(0, false);
  }

  private checkLength(): void {
    if (this.declaredLength() === 0) {
      throw new HashRelayError("BAD_FRAME", "frame length 0: a frame holds at least its type byte");
    }
  }

  /**
   * Header complete: validate type and size, then take the body as a view of `bytes` from `at` when it
   * is all there (returns the bytes taken), else allocate exactly the body for the pushes to fill (returns 0).
   */
  private startBody(frames: Frame[], bytes: Uint8Array, at: number): number {
    const type = this.header[4]!;
    const bodyLength = this.declaredLength() - 1;
    const limit = this.limitOf(type);
    if (limit === undefined) throw new HashRelayError("BAD_FRAME", `unknown frame type ${typeName(type)}`);
    if (bodyLength > limit) {
      throw new HashRelayError("TOO_LARGE", `frame ${typeName(type)} declares a body of ${bodyLength} bytes, over the limit of ${limit}`);
    }
    this.headerFill = 0;
    if (at + bodyLength <= bytes.length) {
      frames.push({ type, body: bytes.subarray(at, at + bodyLength) });
      return bodyLength;
    }
    this.body = new Uint8Array(bodyLength);
    this.bodyFill = 0;
    this.bodyType = type;
    return 0;
  }
}
