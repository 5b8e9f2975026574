// The pieces digest of an archive file (PROTOCOL.md §7.3): each member with the fillers before it, by length and SHA-256.
import { createHash, type Hash } from "node:crypto";
import { LABEL_PIECES } from "../protocol/constants.ts";
import type { FileDigest } from "../protocol/file-digest.ts";
import { leadingFillers } from "./filler.ts";

/** SHA-256 of no bytes: the fillers before a member that has none. */
export const EMPTY_SHA256: Uint8Array = new Uint8Array(createHash("sha256").digest());

/** A piece as the digest takes it: its length and the SHA-256 of its bytes. */
export interface PieceHash {
  length: number;
  sha256: Uint8Array;
}

/**
 * Folds an archive's members in file order into its pieces digest:
 * SHA-256(LABEL_PIECES ‖ for each member: u64be(F) ‖ SHA-256(fillers) ‖ u64be(M) ‖ SHA-256(member)),
 * F the bytes of the fillers right before the member (0 when none), M the member's. Whoever knows
 * those lengths and hashes computes it without the bytes; whoever has the file, in one pass.
 */
export class PiecesHasher {
  private readonly hash: Hash = createHash("sha256").update(LABEL_PIECES);
  private readonly record = new Uint8Array(80);
  private readonly view = new DataView(this.record.buffer);
  /** Bytes of the file the members added so far cover (fillers included). */
  covered = 0;

  /** Adds the next member (and the fillers right before it). */
  add(fillers: PieceHash, member: PieceHash): void {
    this.view.setBigUint64(0, BigInt(fillers.length));
    this.record.set(fillers.sha256, 8);
    this.view.setBigUint64(40, BigInt(member.length));
    this.record.set(member.sha256, 48);
    this.hash.update(this.record);
    this.covered += fillers.length + member.length;
  }

  /** Hex digest (call once, after the last member). */
  digest(): string {
    return this.hash.digest("hex");
  }
}

/** `bytes` as a piece. */
export function pieceOf(bytes: Uint8Array): PieceHash {
  return { length: bytes.length, sha256: bytes.length === 0 ? EMPTY_SHA256 : new Uint8Array(createHash("sha256").update(bytes).digest()) };
}

/**
 * The digest of the kind `kind` has (a receipt's: the pieces digest, or the whole file's SHA-256 for a
 * receipt made before it), over a file read member by member, each with the fillers before it.
 */
export class FileDigestHasher {
  private readonly pieces: PiecesHasher | null;
  private readonly whole = createHash("sha256");

  constructor(kind: FileDigest) {
    this.pieces = kind.piecesSha256 !== undefined || kind.fileSha256 === undefined ? new PiecesHasher() : null;
  }

  /**
   * Adds the next member: `span` is the fillers before it (`fillers` bytes; parsed when not given) then
   * the member. Never throws: fillers that do not parse count as part of the member (which is reported
   * damaged anyway).
   */
  add(span: Uint8Array, fillers?: number): void {
    if (!this.pieces) {
      this.whole.update(span);
      return;
    }
    let at = fillers ?? 0;
    if (fillers === undefined)
      try {
        at = leadingFillers(span);
      } catch {
        at = 0;
      }
    this.pieces.add(pieceOf(span.subarray(0, at)), pieceOf(span.subarray(at)));
  }

  /** The digest (call once, after the last member). */
  result(): FileDigest {
    return this.pieces ? { piecesSha256: this.pieces.digest() } : { fileSha256: this.whole.digest("hex") };
  }
}
