// Client→server bytes by HashRelay frame type (PROTOCOL.md §2: u32 BE length | type | body), read off the proxy's stream.
import { FrameType } from "../../src/protocol/constants.ts";

/** Frames and wire bytes (the 5-byte header included) of one frame type. */
export interface FrameTypeCount {
  frames: number;
  bytes: number;
}

const NAMES = new Map<number, string>(Object.entries(FrameType).map(([name, type]) => [type, name.replace(/^SEALED_/, "")]));

/**
 * Follows one connection's byte stream frame by frame, however TCP split it, and adds each frame's
 * wire bytes to `counts` under its type's name. Meaningful only for a HashRelay stream: the bench reads
 * it for hashrelay's runs alone.
 */
export class FrameTally {
  /** Bytes of the current frame's header read so far (up to 5), then the body bytes still to come. */
  private header = new Uint8Array(5);
  private headerFill = 0;
  private bodyLeft = 0;
  private name = "";

  constructor(private readonly counts: Record<string, FrameTypeCount>) {}

  /** Takes the next bytes of the stream. */
  add(data: Uint8Array): void {
    let at = 0;
    while (at < data.length) {
      if (this.bodyLeft > 0) {
        const take = Math.min(this.bodyLeft, data.length - at);
        this.bodyLeft -= take;
        this.count(take);
        at += take;
        continue;
      }
      this.header[this.headerFill++] = data[at++]!;
      if (this.headerFill < 5) continue;
      const length = new DataView(this.header.buffer).getUint32(0);
      this.name = NAMES.get(this.header[4]!) ?? `0x${this.header[4]!.toString(16)}`;
      const entry = (this.counts[this.name] ??= { frames: 0, bytes: 0 });
      entry.frames++;
      this.count(5);
      this.headerFill = 0;
      this.bodyLeft = Math.max(0, length - 1);
    }
  }

  private count(bytes: number): void {
    this.counts[this.name]!.bytes += bytes;
  }
}

/** `counts` in one line, largest first: `CHUNK 976 × 40.0 MiB, MANIFEST 14 × 37.0 KiB, CONTROL 5 × 921 B, …`. */
export function frameTallyLine(counts: Record<string, FrameTypeCount>): string {
  return Object.entries(counts)
    .sort((a, b) => b[1].bytes - a[1].bytes)
    .map(([name, c]) => `${name} ${c.frames} × ${size(c.bytes)}`)
    .join(", ");
}

function size(bytes: number): string {
  if (bytes < 10_240) return `${bytes} B`;
  if (bytes < 10 * 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
