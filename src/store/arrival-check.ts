// The check of each member a client sends, as it arrives: inflated into one buffer reused from chunk to chunk.
import { crc32 } from "node:zlib";
import { GZIP_HEADER_BYTES, GZIP_TRAILER_BYTES, inflateMember, readMemberLength } from "../archive/gzip-member.ts";
import { isZstdMember } from "../archive/zstd-member.ts";
import { RawInflater } from "../io/inflate-into.ts";
import { CHUNK_MAX } from "../protocol/constants.ts";
import { MAX_MEMBER_BYTES, sha256 } from "./archive-file.ts";

/**
 * Inflates arriving gzip members into one buffer it reuses (zstd members as inflateMember does). A fresh
 * output buffer per 64 KiB chunk cost more than the inflating itself (page faults, the allocator handing
 * pages back; io/inflate-into.ts): 2.4x the time of inflate, CRC32 and SHA-256 together on the bench's
 * text. One per store: the server checks one member at a time on its main thread.
 */
export class ArrivalCheck {
  private readonly inflater = new RawInflater();
  /** A chunk's raw bytes and one more, to see a member that inflates past its length. */
  private readonly out = new Uint8Array(CHUNK_MAX + 1);

  /**
   * The raw bytes of `member` when it is exactly one of our members (its length field equals its size;
   * for gzip, ISIZE and CRC32 agree with the output) and they are `rawLength` (≤ CHUNK_MAX) bytes; null
   * otherwise. A view into the reused buffer, valid until the next call: use it before any await.
   * Never throws.
   */
  rawOf(member: Uint8Array, rawLength: number): Uint8Array | null {
    if (rawLength > CHUNK_MAX || member.length > MAX_MEMBER_BYTES) return null;
    try {
      if (isZstdMember(member, 0)) {
        const raw = inflateMember(member, rawLength);
        return raw.length === rawLength ? raw : null;
      }
      if (readMemberLength(member, 0) !== member.length) return null;
      const trailer = new DataView(member.buffer, member.byteOffset + member.length - GZIP_TRAILER_BYTES, GZIP_TRAILER_BYTES);
      if (trailer.getUint32(4, true) !== rawLength) return null;
      const deflated = member.subarray(GZIP_HEADER_BYTES, member.length - GZIP_TRAILER_BYTES);
      if (this.inflater.inflateInto(deflated, this.out.subarray(0, rawLength + 1)) !== rawLength) return null;
      const raw = this.out.subarray(0, rawLength);
      return crc32(raw) >>> 0 === trailer.getUint32(0, true) ? raw : null;
    } catch {
      return null;
    }
  }

  /** True iff `member` is one of our members (as rawOf) whose `rawLength` raw bytes hash to `id`. Never throws. */
  matches(member: Uint8Array, id: Uint8Array, rawLength: number): boolean {
    const raw = this.rawOf(member, rawLength);
    return raw !== null && Buffer.from(sha256(raw)).equals(Buffer.from(id));
  }
}
