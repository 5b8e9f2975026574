// The new archive written ahead of commit: the unchanged bulk is copied while the client is still reading its files.
import { randomBytes } from "node:crypto";
import { ArchiveAssembler } from "./assemble.ts";
import { ReusedMemberDamaged } from "./damage-found.ts";
import { isAvailable, memberSources } from "./member-sources.ts";
import type { UploadParts } from "./upload-host.ts";

/**
 * The new archive is written ahead of commit once this many raw bytes of entries in a row are
 * available (the client had them, or they arrived): commit then has only the tail left to write.
 */
const AHEAD_BATCH_RAW = 4 * 1024 * 1024;

/** An assembler writing a new temp file under .hashrelay/tmp for this upload's archive. */
export function newAssembler({ host, name, format }: UploadParts): Promise<ArchiveAssembler> {
  return ArchiveAssembler.create(name, host.layout.tmpPath(`${randomBytes(8).toString("hex")}.${format}`), format, host.sharing);
}

/**
 * Entries [0, count) of the new archive written to a temp file in batches, in the background, one
 * batch at a time. Any failure gives the early write up, silently but for a debug line: commit then
 * assembles the whole archive as if it never started, and reports.
 */
export class WriteAhead {
  /** The archive written so far; null before the first batch and once given up or taken. */
  private assembler: ArchiveAssembler | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private givenUp = false;

  /** `closed`: true once the upload is committing or over; no new batch starts then. */
  constructor(
    private readonly parts: UploadParts,
    private readonly closed: () => boolean,
  ) {}

  /** More entries may be available (a page or a member arrived): writes the next batch if it is big enough. Never throws. */
  nudge(): void {
    if (this.closed() || this.givenUp) return;
    this.again = true;
    if (this.running) return;
    this.running = (async () => {
      try {
        while (this.again && !this.closed() && !this.givenUp) {
          this.again = false;
          await this.writeBatch();
        }
      } catch (err) {
        this.givenUp = true;
        const { host, client, name } = this.parts;
        // a damaged reused member is recorded now: commit assembles from another copy, or fails naming it
        if (err instanceof ReusedMemberDamaged) await host.reusedDamaged(err);
        await this.assembler?.discard();
        this.assembler = null;
        // logged once the early file is gone: the line means "given up, nothing left behind"
        host.log("debug", "upload.ahead-given-up", { client, name, error: (err as Error).message });
      }
      this.running = null;
    })();
  }

  /** The archive written ahead, once its batch in progress is done, or null; the caller owns it from now on. */
  async take(): Promise<ArchiveAssembler | null> {
    await this.running;
    const assembler = this.assembler;
    this.assembler = null;
    return assembler;
  }

  /** Appends the run of available entries after those written, when it has AHEAD_BATCH_RAW raw bytes. Throws what assembling throws. */
  private async writeBatch(): Promise<void> {
    const { host, client, name, entries, staging } = this.parts;
    const from = this.assembler?.count ?? 0;
    let end = from;
    let raw = 0;
    while (end < entries.count && isAvailable(this.parts, end)) raw += entries.rawLength(end++);
    if (end === from || raw < AHEAD_BATCH_RAW) return;
    if (staging.failure) throw staging.failure;
    this.assembler ??= await newAssembler(this.parts);
    const sources = memberSources(this.parts, from, end, this.assembler.lastStored);
    const assembler = this.assembler;
    await host.writeArchive(assembler.bytesToWrite(sources), `${client}/${name}`, () => assembler.append(sources));
  }
}
