// Raw deflate inflated into a buffer the caller owns, so that a restore reuses its output buffers instead of allocating one per chunk.
import zlib, { inflateRawSync } from "node:zlib";

/** The handle inside node:zlib's InflateRaw (node's internal API, which Bun's node:zlib keeps): inflate from and into given buffers. */
interface ZlibHandle {
  reset(): void;
  writeSync(flush: number, input: Uint8Array, inOff: number, inLen: number, out: Uint8Array, outOff: number, outLen: number): void;
  onerror: (message: string, errno: number) => void;
}

/**
 * Inflates whole raw deflate streams into the start of a given buffer, one at a time, reusing one zlib
 * stream. A fresh output buffer per 64 KiB chunk cost a restore more than inflating it (page faults, the
 * allocator handing pages back): node's one-shot inflateRawSync has no output buffer to give, its stream
 * handle has. Where the handle is missing it inflates as inflateRawSync does and copies.
 */
export class RawInflater {
  private handle: ZlibHandle | null = null;
  /** [output bytes left, input bytes left] after a writeSync, as the handle reports them. */
  private state: Uint32Array | null = null;
  private error: string | null = null;

  constructor() {
    const stream = zlib.createInflateRaw() as unknown as { _handle?: Partial<ZlibHandle>; _writeState?: Uint32Array };
    const handle = stream._handle;
    if (typeof handle?.writeSync !== "function" || typeof handle.reset !== "function" || !stream._writeState) return;
    this.handle = handle as ZlibHandle;
    this.state = stream._writeState;
    this.handle.onerror = (message) => void (this.error = message);
  }

  /**
   * Inflates the whole stream `deflated` into `out`, from its start. Returns the bytes written; throws
   * Error (the reason) when the data is corrupt or cut short, when bytes follow the stream's end, or when
   * it inflates to `out.length` bytes or more (give one byte more than the longest output allowed).
   */
  inflateInto(deflated: Uint8Array, out: Uint8Array): number {
    if (!this.handle || !this.state) return this.inflateAndCopy(deflated, out);
    this.error = null;
    this.handle.reset();
    this.handle.writeSync(zlib.constants.Z_FINISH, deflated, 0, deflated.length, out, 0, out.length);
    if (this.error !== null) throw new Error(this.error);
    const written = out.length - this.state[0]!;
    if (written >= out.length) throw new Error(`inflates to ${out.length} bytes or more`);
    if (this.state[1]! > 0) throw new Error(`${this.state[1]} bytes after the deflate stream`);
    return written;
  }

  private inflateAndCopy(deflated: Uint8Array, out: Uint8Array): number {
    const result = inflateRawSync(deflated, { maxOutputLength: Math.max(out.length - 1, 1), info: true }) as unknown as {
      buffer: Uint8Array;
      engine: { bytesWritten: number };
    };
    if (result.engine.bytesWritten !== deflated.length)
      throw new Error(`${deflated.length - result.engine.bytesWritten} bytes after the deflate stream`);
    out.set(result.buffer);
    return result.buffer.length;
  }
}
