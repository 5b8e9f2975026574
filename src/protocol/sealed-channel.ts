// AES-256-GCM sealing of post-handshake frames under implicit per-direction counters.
import { createCipheriv, createDecipheriv } from "node:crypto";
import { HashRelayError } from "../errors.ts";
import { AEAD_NONCE_BYTES, AEAD_TAG_BYTES, FRAME_HEADER_BYTES, FrameType } from "./constants.ts";
import { protocolLimits, typeName, type Frame } from "./frame-codec.ts";

const SEALED_TYPES: ReadonlySet<number> = new Set([
  FrameType.SEALED_CONTROL,
  FrameType.SEALED_MANIFEST,
  FrameType.SEALED_NEED,
  FrameType.SEALED_CHUNK,
  FrameType.SEALED_MANIFEST_DIFF,
  FrameType.SEALED_CHUNK_DELTA,
  FrameType.SEALED_CONTEXT_DELTA,
  FrameType.SEALED_HASH_REQUEST,
  FrameType.SEALED_SUB_HASHES,
  FrameType.SEALED_DELTA_BATCH,
  FrameType.SEALED_CHUNK_STREAM,
]);

/** The last usable counter: nonces are 4 zero bytes || u64 BE counter, and a nonce is never reused. */
export const MAX_COUNTER = (1n << 64n) - 1n;

const AUTH_FAILED = "frame failed authentication (replayed, reordered or altered)";

function nonceOf(counter: bigint): Uint8Array {
  const nonce = new Uint8Array(AEAD_NONCE_BYTES);
  new DataView(nonce.buffer).setBigUint64(4, counter, false);
  return nonce;
}

export interface SealedChannelOptions {
  /** First counter of each direction. The protocol fixes 0; only tests of counter exhaustion change it. */
  firstCounter?: bigint;
}

/**
 * One session's two directions. Frame n (from 0) in a direction is sealed with nonce n and the frame
 * type as associated data, so a replayed, dropped, reordered, retyped or altered frame cannot open.
 * After one failed open() the receiving direction stays failed; seal() keeps working so an error can still be sent.
 */
export class SealedChannel {
  private readonly sendKey: Uint8Array;
  private readonly recvKey: Uint8Array;
  private sendCounter: bigint;
  private recvCounter: bigint;
  private recvFailure: HashRelayError | null = null;

  constructor(sendKey: Uint8Array, recvKey: Uint8Array, options: SealedChannelOptions = {}) {
    if (sendKey.length !== 32 || recvKey.length !== 32) {
      throw new HashRelayError("INTERNAL", "sealed channel keys must be 32 bytes (AES-256)");
    }
    this.sendKey = sendKey;
    this.recvKey = recvKey;
    this.sendCounter = options.firstCounter ?? 0n;
    this.recvCounter = options.firstCounter ?? 0n;
  }

  /**
   * Seals `plaintext` as the next frame of the sending direction. Throws INTERNAL for a type that is
   * not sealed or when the counter is exhausted, TOO_LARGE when the sealed body exceeds the type's limit.
   */
  seal(type: number, plaintext: Uint8Array): Frame {
    return { type, body: this.sealToBytes(type, plaintext).subarray(FRAME_HEADER_BYTES) };
  }

  /** seal() as the bytes to write (encodeFrame's layout), made in one buffer: a chunk is not copied into a body, then a frame. */
  sealToBytes(type: number, plaintext: Uint8Array): Uint8Array {
    if (!SEALED_TYPES.has(type)) throw new HashRelayError("INTERNAL", `frame type ${typeName(type)} is not a sealed type`);
    const limit = protocolLimits(type)!;
    if (plaintext.length + AEAD_TAG_BYTES > limit) {
      throw new HashRelayError(
        "TOO_LARGE",
        `sealed ${typeName(type)} plaintext of ${plaintext.length} bytes exceeds ${limit - AEAD_TAG_BYTES}`,
      );
    }
    if (this.sendCounter > MAX_COUNTER) {
      throw new HashRelayError("INTERNAL", "send counter exhausted: this session cannot seal another frame", "reconnect");
    }
    const cipher = createCipheriv("aes-256-gcm", this.sendKey, nonceOf(this.sendCounter), { authTagLength: AEAD_TAG_BYTES });
    cipher.setAAD(new Uint8Array([type]));
    const head = cipher.update(plaintext);
    const tail = cipher.final();
    const tag = cipher.getAuthTag();
    this.sendCounter++;
    const bodyLength = head.length + tail.length + tag.length;
    const out = new Uint8Array(FRAME_HEADER_BYTES + bodyLength);
    new DataView(out.buffer).setUint32(0, 1 + bodyLength, false);
    out[4] = type;
    out.set(head, FRAME_HEADER_BYTES);
    out.set(tail, FRAME_HEADER_BYTES + head.length);
    out.set(tag, FRAME_HEADER_BYTES + head.length + tail.length);
    return out;
  }

  /**
   * Opens the next frame of the receiving direction and returns its plaintext. Throws BAD_FRAME
   * "frame failed authentication ..." for anything that does not open, and for every call after that.
   */
  open(frame: Frame): Uint8Array {
    if (this.recvFailure) throw this.recvFailure;
    try {
      if (!SEALED_TYPES.has(frame.type) || frame.body.length < AEAD_TAG_BYTES || this.recvCounter > MAX_COUNTER) {
        throw new Error("not openable");
      }
      const cut = frame.body.length - AEAD_TAG_BYTES;
      const decipher = createDecipheriv("aes-256-gcm", this.recvKey, nonceOf(this.recvCounter), {
        authTagLength: AEAD_TAG_BYTES,
      });
      decipher.setAAD(new Uint8Array([frame.type]));
      decipher.setAuthTag(frame.body.subarray(cut));
      const head = decipher.update(frame.body.subarray(0, cut));
      const tail = decipher.final();
      this.recvCounter++;
      // GCM gives everything from update(): hand over the buffer it made (a plain view of it, no copy).
      if (tail.length === 0 && head.byteOffset === 0) return new Uint8Array(head.buffer, 0, head.length);
      const out = new Uint8Array(head.length + tail.length);
      out.set(head, 0);
      out.set(tail, head.length);
      return out;
    } catch (err) {
      this.recvFailure = new HashRelayError("BAD_FRAME", AUTH_FAILED, "", { cause: err });
      throw this.recvFailure;
    }
  }
}
