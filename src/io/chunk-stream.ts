// An upload's chunk stream (PROTOCOL.md §8.10): whole chunks as one zstd stream, flushed at the end of each chunk.
import { constants, createZstdCompress, createZstdDecompress, type ZstdCompress, type ZstdDecompress } from "node:zlib";
import { HashRelayError } from "../errors.ts";

/** The zstd level of the stream: ~60 MB/s on one core here, well past the links it is used on (§8.10). */
const STREAM_LEVEL = 9;
/** The window both ends keep: 8 MiB (zstd's own for this level), what the decoder accepts at most. */
export const STREAM_WINDOW_LOG = 23;

/** Runs `input` through `stream` up to a flush; resolves with what came out, or rejects with its error. */
function through(stream: ZstdCompress | ZstdDecompress, input: Uint8Array, bound: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    let length = 0;
    const onData = (data: Buffer) => {
      length += data.length;
      out.push(data);
      if (length > bound) finish(new RangeError(`past ${bound} bytes`));
    };
    const finish = (err: Error | null) => {
      stream.off("data", onData);
      stream.off("error", finish);
      if (err) {
        stream.destroy();
        reject(err);
      } else resolve(Buffer.concat(out, length));
    };
    stream.on("data", onData);
    stream.once("error", finish);
    stream.write(input);
    stream.flush(constants.ZSTD_e_flush, () => finish(null));
  });
}

/** The client's end: each chunk's raw bytes in, the stream bytes that carry it out, in call order. */
export class ChunkStreamWriter {
  private readonly stream = createZstdCompress({
    params: { [constants.ZSTD_c_compressionLevel]: STREAM_LEVEL, [constants.ZSTD_c_windowLog]: STREAM_WINDOW_LOG },
  });
  private last: Promise<unknown> = Promise.resolve();

  /** The stream bytes of `raw`, after those of every chunk written before it. */
  write(raw: Uint8Array): Promise<Uint8Array> {
    const done = this.last.then(() => through(this.stream, raw, Number.MAX_SAFE_INTEGER));
    this.last = done.catch(() => undefined);
    return done;
  }

  close(): void {
    this.stream.destroy();
  }
}

/** The server's end: the bytes of one chunk in, its raw bytes out, never more than the entry's raw length. */
export class ChunkStreamReader {
  private readonly stream = createZstdDecompress({ params: { [constants.ZSTD_d_windowLogMax]: STREAM_WINDOW_LOG } });
  private broken = false;

  /**
   * The raw bytes `bytes` carry, which must be exactly `rawLength` (the entry's). Throws TOO_LARGE past it (the
   * decoder stops there), BAD_FRAME when the stream is corrupt or a window larger than 8 MiB, HASH_MISMATCH when
   * shorter; after a failure the stream is unusable (the session ends).
   */
  async read(bytes: Uint8Array, rawLength: number, what: string): Promise<Uint8Array> {
    if (this.broken) throw new HashRelayError("BAD_FRAME", `${what}: the chunk stream broke before`);
    let raw: Buffer;
    try {
      raw = await through(this.stream, bytes, rawLength);
    } catch (err) {
      this.broken = true;
      if (err instanceof RangeError) throw new HashRelayError("TOO_LARGE", `${what}: the chunk stream decodes past its ${rawLength} bytes`);
      throw new HashRelayError("BAD_FRAME", `${what}: corrupt chunk stream: ${(err as Error).message}`);
    }
    if (raw.length !== rawLength) {
      this.broken = true;
      throw new HashRelayError("HASH_MISMATCH", `${what}: the chunk stream gives ${raw.length} bytes, its entry ${rawLength}`);
    }
    return new Uint8Array(raw.buffer, raw.byteOffset, raw.length);
  }

  close(): void {
    this.stream.destroy();
  }
}
