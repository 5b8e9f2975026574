// The members of one archive in compact columns: what the chunk index records per archive, ~80 bytes a member.
import { chunkIdHex } from "../archive/manifest.ts";
import { MAX_CHUNKS_PER_ARCHIVE } from "../protocol/constants.ts";
import type { MemberRecord } from "./index-entry.ts";

/** Member i: chunk id (32 bytes), offset in the file, member length, raw length, SHA-256 of the member's bytes. */
export class MemberTable {
  count = 0;
  private ids = new Uint8Array(0);
  private shas = new Uint8Array(0);
  private offsets = new Float64Array(0);
  private lengths = new Uint32Array(0);
  private raws = new Uint32Array(0);

  /** Appends a member. Throws RangeError past MAX_CHUNKS_PER_ARCHIVE members. */
  push(id: Uint8Array, offset: number, length: number, rawLength: number, sha256: Uint8Array): void {
    if (this.count === this.offsets.length) this.grow();
    const i = this.count++;
    this.ids.set(id.subarray(0, 32), i * 32);
    this.shas.set(sha256.subarray(0, 32), i * 32);
    this.offsets[i] = offset;
    this.lengths[i] = length;
    this.raws[i] = rawLength;
  }

  // Member i's fields; ids and SHA-256s are views (copy them to keep them).
  id(i: number): Uint8Array {
    return this.ids.subarray(i * 32, i * 32 + 32);
  }
  sha256(i: number): Uint8Array {
    return this.shas.subarray(i * 32, i * 32 + 32);
  }
  offset(i: number): number {
    return this.offsets[i]!;
  }
  length(i: number): number {
    return this.lengths[i]!;
  }
  rawLength(i: number): number {
    return this.raws[i]!;
  }

  /** The members as an index entry's [id hex, offset, length, raw length] records. */
  records(): MemberRecord[] {
    const out: MemberRecord[] = [];
    for (let i = 0; i < this.count; i++) out.push([chunkIdHex(this.id(i)), this.offsets[i]!, this.lengths[i]!, this.raws[i]!]);
    return out;
  }

  /** Doubles the capacity. Throws RangeError beyond MAX_CHUNKS_PER_ARCHIVE members. */
  private grow(): void {
    const capacity = Math.max(1024, this.offsets.length * 2);
    if (this.offsets.length >= MAX_CHUNKS_PER_ARCHIVE) throw new RangeError(`an archive holds at most ${MAX_CHUNKS_PER_ARCHIVE} members`);
    const ids = new Uint8Array(capacity * 32);
    ids.set(this.ids);
    const shas = new Uint8Array(capacity * 32);
    shas.set(this.shas);
    const offsets = new Float64Array(capacity);
    offsets.set(this.offsets);
    const lengths = new Uint32Array(capacity);
    lengths.set(this.lengths);
    const raws = new Uint32Array(capacity);
    raws.set(this.raws);
    this.ids = ids;
    this.shas = shas;
    this.offsets = offsets;
    this.lengths = lengths;
    this.raws = raws;
  }
}
