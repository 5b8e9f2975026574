// Building a new archive file in .hashrelay/tmp from staged and reused members, then moving it into place.
import { mkdir, open, stat, unlink } from "node:fs/promises";
import type { Stats } from "node:fs";
import { HashRelayError } from "../errors.ts";
import { fsyncDir, renameDurable } from "../io/atomic-file.ts";
import type { ArchiveFormat } from "../archive/naming.ts";
import { ArchiveOutput } from "./archive-output.ts";
import { BlockSharing } from "./block-sharing.ts";
import { ClonedRun } from "./cloned-run.ts";
import { InputFiles, MemberCopier, type MemberSource } from "./member-copy.ts";
import type { MemberTable } from "./member-table.ts";
import { pathExists, type StoreLayout } from "./layout.ts";

export { READ_RUN, planRuns, type MemberSource } from "./member-copy.ts";

export interface AssembleArgs {
  client: string;
  name: string;
  /** Path of the temp file to create (must not exist), under .hashrelay/tmp. */
  tmp: string;
  sources: readonly MemberSource[];
  /** The archive's member format: a reused member of the other format is re-encoded (after a client.compression change). */
  format: ArchiveFormat;
  /** Whether (and at which block) reused runs may be cloned; default: copied. */
  sharing?: BlockSharing;
}

/**
 * Writes the members in order to `tmp` and fsyncs it (an ArchiveAssembler given every member at once).
 * Throws as ArchiveAssembler.append; on any failure `tmp` is removed. Returns the new file's members and pieces digest.
 */
export async function assembleArchive(args: AssembleArgs): Promise<AssembledArchive> {
  const assembler = await ArchiveAssembler.create(args.name, args.tmp, args.format, args.sharing);
  try {
    await assembler.append(args.sources);
    return await assembler.finish();
  } catch (err) {
    await assembler.discard();
    throw err;
  }
}

export interface AssembledArchive {
  members: MemberTable;
  /** The pieces digest (PROTOCOL.md §7.3) the receipt signs: from the members' recorded hashes, not read back. */
  piecesSha256: string;
  size: number;
  /** Bytes the server wrote; the rest (size - written) the file system shares with the archives they came from. */
  written: number;
}

/**
 * A new archive file being written in order, batch after batch of members, before the whole list is
 * known: the server starts on an upload's first pages while the client is still reading its files.
 *
 * Runs of reused members lying end to end in one stored archive are cloned when the file system can
 * (cloned-run.ts): fillers put such a run at its old offset modulo the block, and its whole blocks are
 * shared with the archive it comes from. Everything else is copied (member-copy.ts): new members from
 * the staging file, runs too short to clone, and every run on a file system that cannot clone. A
 * member whose bytes the server writes is first hashed and compared with the SHA-256 recorded when it
 * was verified against its chunk id (a full inflate is the scrub's job, Store.verifyArchive).
 */
export class ArchiveAssembler {
  private readonly inputs = new InputFiles();
  private readonly copier: MemberCopier;
  private readonly output: ArchiveOutput;
  private run: ClonedRun | null = null;
  private closed = false;
  /** Members appended so far (a run still open counts). */
  count = 0;
  /** Where the last member appended came from in the index, when a stored archive: the next batch's runs go on from it. */
  lastStored: MemberSource["stored"];

  private constructor(
    private readonly name: string,
    readonly tmp: string,
    private readonly format: ArchiveFormat,
    out: Awaited<ReturnType<typeof open>>,
    private readonly sharing: BlockSharing,
  ) {
    this.output = new ArchiveOutput(out, `${tmp}.members`);
    this.copier = new MemberCopier(name, format, this.output, this.inputs);
  }

  /** Creates `tmp` (it must not exist). `sharing`: whether reused runs may be cloned (default: never). */
  static async create(name: string, tmp: string, format: ArchiveFormat, sharing?: BlockSharing): Promise<ArchiveAssembler> {
    const off = sharing ?? BlockSharing.off();
    return new ArchiveAssembler(name, tmp, format, await open(tmp, "wx", 0o640), off);
  }

  /**
   * Appends `sources` in order. Calls must not overlap. Throws HASH_MISMATCH when a member's bytes
   * changed since they were verified, STORAGE on short reads, fs errors otherwise; the assembler is
   * then of no further use (discard it).
   */
  async append(sources: readonly MemberSource[]): Promise<void> {
    if (this.closed) throw new HashRelayError("INTERNAL", `assembly of ${this.name} is already finished`);
    let copies: MemberSource[] = [];
    for (const source of sources) {
      if (this.run?.continuesWith(source)) {
        await this.run.add(source);
        continue;
      }
      if (!ClonedRun.canStart(source, this.format, this.sharing)) {
        if (this.run) await this.closeRun();
        copies.push(source);
        continue;
      }
      await this.copier.copy(copies);
      copies = [];
      await this.closeRun();
      if (!ClonedRun.fitsBehindFillers(source, this.output.position, this.format, this.sharing.blockSize)) {
        copies.push(source);
        continue;
      }
      this.run = new ClonedRun(
        { name: this.name, format: this.format, output: this.output, inputs: this.inputs, sharing: this.sharing },
        source,
      );
    }
    await this.copier.copy(copies);
    this.count += sources.length;
    if (sources.length > 0) this.lastStored = sources.at(-1)!.stored;
  }

  /** Ends the open run (copying it when it stayed too short to clone). */
  private async closeRun(): Promise<void> {
    const run = this.run;
    this.run = null;
    if (run) await this.copier.copy(await run.close());
  }

  /** Ends the last run, waits for every write, fsyncs and closes the file. Returns its members and pieces digest. */
  async finish(): Promise<AssembledArchive> {
    await this.closeRun();
    await this.output.settled();
    this.closed = true;
    await this.output.out.sync();
    await this.closeFiles();
    const { members, position, written } = this.output;
    return { members, piecesSha256: this.output.digest(), size: position, written };
  }

  /**
   * Bytes appending `sources` may write, for the free-space check: all of them when copied; when
   * cloning, those that cannot be cloned and a few blocks per run (a short run copied costs more).
   */
  bytesToWrite(sources: readonly MemberSource[]): number {
    let bytes = 0;
    let last: MemberSource | undefined;
    for (const s of sources) {
      if (!ClonedRun.canStart(s, this.format, this.sharing)) bytes += s.length;
      else if (last?.path !== s.path || last.stored?.seq !== s.stored!.seq - 1) bytes += 3 * this.sharing.blockSize + 1024;
      last = s;
    }
    return bytes;
  }

  /** Closes and removes the file (and its member table's spool). Never throws. */
  async discard(): Promise<void> {
    this.closed = true;
    await this.output.quiet();
    this.output.members.dispose();
    await this.closeFiles();
    await unlink(this.tmp).catch(() => undefined);
  }

  /** Closes the output and every input file. Never throws. */
  private async closeFiles(): Promise<void> {
    await this.output.out.close().catch(() => undefined);
    await this.inputs.close();
  }
}

/**
 * Moves the complete, fsynced `tmp` to `<root>/<client>/<file>` (creating the client folder) and
 * fsyncs the folders. Never replaces an existing file: throws STORAGE if one is there. On failure
 * `tmp` is removed. Returns the stored file's stats.
 */
export async function installArchive(layout: StoreLayout, client: string, file: string, tmp: string): Promise<Stats> {
  const final = layout.archivePath(client, file);
  try {
    const created = await mkdir(layout.clientDir(client), { recursive: true, mode: 0o750 });
    if (created) await fsyncDir(layout.root);
    if (await pathExists(final)) {
      throw new HashRelayError("STORAGE", `${client}/${file} already exists`, "a stored archive is never overwritten");
    }
    await renameDurable(tmp, final);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  return stat(final);
}
