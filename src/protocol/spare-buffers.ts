// Buffers handed back once their bytes were used, kept (up to a byte budget) to take later frames or chunks of about their size.

/**
 * A free list of ArrayBuffers. Whoever gives a buffer back promises that nothing still reads or writes
 * it (no view of it outlives the give): a buffer handed out twice while in use would mix two frames.
 */
export class SpareBuffers {
  private readonly spare: ArrayBuffer[] = [];
  private spareBytes = 0;

  constructor(
    /** Bytes kept at most; a buffer given back beyond it is left to the collector. */
    private readonly maxBytes: number,
    /** New buffers are a whole number of steps long, so that one serves later uses of about its size. */
    private readonly step: number,
  ) {}

  /** A spare buffer of at least `bytes` (the first that fits), else a new one. */
  take(bytes: number): ArrayBuffer {
    const at = this.spare.findIndex((b) => b.byteLength >= bytes);
    if (at < 0) return new ArrayBuffer(Math.max(1, Math.ceil(bytes / this.step)) * this.step);
    const buffer = this.spare.splice(at, 1)[0]!;
    this.spareBytes -= buffer.byteLength;
    return buffer;
  }

  /** `buffer` is not used any more: it joins the spares (once) while they hold less than maxBytes. */
  give(buffer: ArrayBuffer): void {
    if (buffer.byteLength === 0 || this.spareBytes + buffer.byteLength > this.maxBytes || this.spare.includes(buffer)) return;
    this.spare.push(buffer);
    this.spareBytes += buffer.byteLength;
  }

  /** Bytes held as spares now. */
  get bytes(): number {
    return this.spareBytes;
  }
}
