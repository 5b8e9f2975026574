// The proof answers this backup makes for `hashrelay verify`, while each chunk's bytes are at hand.
import { PROOF_ROUNDS } from "../../protocol/constants.ts";
import { proofTokens } from "../../protocol/proof.ts";
import type { Logger } from "../../io/log.ts";
import type { IdChange } from "../../archive/sorted-ids.ts";
import { ProofStore, type ProofRows, type SourceChunks } from "../proof-store.ts";

/** Proof answers of chunks in no source's last archive are forgotten this long after the chunk was last backed up. */
const PROOF_KEEP_MS = 30 * 24 * 3600 * 1000;

/**
 * Answers held in memory before they go to the proof file's stage (ProofStore.stage): ~300 bytes a
 * chunk in memory, so a first backup of a TiB (16 million chunks) would otherwise hold ~5 GB.
 */
const STAGE_EVERY = 1024;

/** The chunk ids of a new archive, as ProofAnswers.record takes them. */
export interface ArchiveChunkIds {
  /** Every id (repeats allowed). */
  all(): Iterable<Uint8Array>;
  /** What changed since the last archive `archiveId`, when both archives' sorted ids can be read. */
  changesFrom?: { archiveId: string; changes(): Iterable<IdChange> };
}

/**
 * The proof file and the answers made during one source's transfer. Owned by the transfer stage: the
 * chunk choices add answers as chunks go by, the commit records them once the archive is receipted.
 * Without a proof file (it could not be opened) every method is a no-op: verify loses, not the backup.
 */
export class ProofAnswers {
  private readonly rows: ProofRows[] = [];

  private constructor(
    private store: ProofStore | null,
    private readonly log: Logger,
    private readonly name: string,
    private readonly stageEvery: number,
  ) {}

  /**
   * Opens the proof file under the client's state; one that cannot be opened is logged and left out.
   * `stageEvery`: answers held in memory before they are staged in the file (tests make it small).
   */
  static open(file: string, log: Logger, name: string, stageEvery = STAGE_EVERY): ProofAnswers {
    try {
      return new ProofAnswers(ProofStore.open(file), log, name, stageEvery);
    } catch (err) {
      log.log("warn", `no proof answers made for this backup: ${(err as Error).message}`, { name });
      return new ProofAnswers(null, log, name, stageEvery);
    }
  }

  /** The secret the chunk workers make answers with; null when there is no proof file. */
  get secret(): Uint8Array | null {
    return this.store?.secret ?? null;
  }

  /** The first round to make answers from for chunk `id`, or null when it has enough. */
  firstRound(id: Uint8Array): number | null {
    return this.store ? this.store.roundsToAdd(id) : null;
  }

  /** Answers held in memory (the others are staged in the proof file): fewer than `stageEvery`. */
  get held(): number {
    return this.rows.length;
  }

  /** Keeps the answers of chunk `id` from round `first`, made by a worker or here. */
  keep(id: Uint8Array, first: number | null, tokens: Uint8Array | null): void {
    if (!tokens || first === null) return;
    this.rows.push({ id, first, tokens });
    if (this.rows.length >= this.stageEvery) this.stageRows();
  }

  /** Makes the answers here, for a chunk that goes to no worker, while its bytes are at hand. */
  makeHere(id: Uint8Array, raw: Uint8Array, first: number | null): void {
    this.keep(id, first, this.store && first !== null ? proofTokens(this.store.secret, id, raw, first, PROOF_ROUNDS) : null);
  }

  /**
   * Records the answers made and the chunks of the source's new archive `archiveId` (it is receipted): only
   * what changed since the archive the proof file holds for the source when `chunks.changesFrom` starts
   * there, else all of `chunks.all()`. A failure is logged, not thrown.
   */
  record(archiveId: string, chunks: ArchiveChunkIds, nowMs: number): void {
    this.stageRows();
    if (!this.store) return;
    try {
      this.store.addStaged(nowMs);
      const since = chunks.changesFrom;
      const changed = since && this.store.recordedArchive(this.name) === since.archiveId;
      const ids: SourceChunks = changed ? { from: since.archiveId, changes: since.changes() } : { all: chunks.all() };
      this.store.setSourceChunks(this.name, archiveId, ids, nowMs, nowMs - PROOF_KEEP_MS);
    } catch (err) {
      // The archive is stored and receipted: a proof file that cannot be written costs verify, not the backup.
      this.log.log("warn", `proof answers of this backup not recorded: ${(err as Error).message}`, { name: this.name });
    }
  }

  close(): void {
    this.store?.close();
  }

  /** Moves the answers held in memory to the proof file's stage; a failure is logged and leaves the file out of this backup. */
  private stageRows(): void {
    const rows = this.rows.splice(0);
    if (!this.store || rows.length === 0) return;
    try {
      this.store.stage(rows);
    } catch (err) {
      this.log.log("warn", `proof answers of this backup not recorded: ${(err as Error).message}`, { name: this.name });
      this.store.close();
      this.store = null;
    }
  }
}
