// The room one upload asks the space guard for: its staging writes, a grant at a time, and the batches of its new archive.
import { HashRelayError } from "../errors.ts";

/**
 * Asks the guard for `quotaBytes` more in the client's quota and `diskBytes` more on the disk, for
 * `what` (a need of 0 or less is not checked); resolves with the room there is (at least both),
 * throws NO_SPACE or QUOTA.
 */
export type AskRoom = (quotaBytes: number, diskBytes: number, what: string) => Promise<number>;

/** Staging room asked for at a time: one free-space check per this many bytes staged, not one per chunk. */
export const STAGING_GRANT = 4 * 1024 * 1024;

/**
 * What an upload adds to its client's usage and to the disk. Its staging and its new archive hold the
 * same chunks (the archive also copies those the client had), so the upload counts for the larger of
 * the two: the archive it becomes, never both.
 */
export class UploadSpace {
  /** Staging bytes granted, and how many of them were handed to writes. */
  private granted = 0;
  private staged = 0;
  /** Bytes of the new archive asked for so far, and how many of them are granted to a write still under way. */
  private assembled = 0;
  private writing = 0;
  /** The last refusal (NO_SPACE, QUOTA): reported if the upload ends unstored (a write ahead refused may still be stored at commit). */
  refusal: HashRelayError | null = null;

  constructor(
    readonly client: string,
    readonly name: string,
    private readonly ask: AskRoom,
  ) {}

  /** Bytes this upload counts for in its client's usage now. */
  get footprint(): number {
    return Math.max(this.granted, this.assembled);
  }

  /**
   * Bytes promised to this upload and not yet taken from the disk: staging granted but not handed to a
   * write, and archive bytes granted to a write under way (the disk shows them only once written).
   */
  get unwritten(): number {
    return this.granted - this.staged + this.writing;
  }

  /**
   * Before `bytes` more are written to the upload's staging file. Asks the guard only when the grant
   * is used up, for STAGING_GRANT (or `bytes`, when larger) as far as the room allows. Throws NO_SPACE
   * or QUOTA when not even `bytes` fit.
   */
  async forStaging(bytes: number): Promise<void> {
    if (this.staged + bytes > this.granted) {
      const beyond = this.staged + bytes - this.granted;
      const grown = Math.max(this.staged + bytes, this.assembled) - this.footprint;
      const room = await this.asked(grown, beyond, `chunks of ${this.name}`);
      this.granted = this.staged + Math.min(Math.max(bytes, STAGING_GRANT), bytes + room - beyond);
    }
    this.staged += bytes;
  }

  /**
   * Writes `bytes` more of the new archive with `write` (`what` names them), once the room is granted:
   * they take the staging grant left unwritten first (at commit staging is over: what it was promised
   * would otherwise stand idle), the rest is asked for. While `write` runs they stay promised, so no
   * other upload is granted the same room. Throws NO_SPACE or QUOTA when they do not fit (then `write`
   * does not run), or what `write` throws.
   */
  async writeArchive<T>(bytes: number, what: string, write: () => Promise<T>): Promise<T> {
    const taken = Math.min(this.granted - this.staged, bytes);
    // this upload's own staging grant is still counted as promised while the guard answers: only what
    // it does not cover is asked of the disk
    const grown = Math.max(this.granted - taken, this.assembled + bytes) - this.footprint;
    await this.asked(grown, bytes - taken, what);
    this.granted -= taken;
    this.assembled += bytes;
    this.writing += bytes;
    try {
      return await write();
    } finally {
      this.writing -= bytes;
    }
  }

  /** `ask`, keeping a refusal. */
  private async asked(quotaBytes: number, diskBytes: number, what: string): Promise<number> {
    try {
      return await this.ask(quotaBytes, diskBytes, what);
    } catch (err) {
      if (err instanceof HashRelayError && (err.code === "QUOTA" || err.code === "NO_SPACE")) this.refusal = err;
      throw err;
    }
  }
}
