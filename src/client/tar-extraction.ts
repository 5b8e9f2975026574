// A tar process extracting a raw tar stream (no compression: the restore inflated it) fed as members check, names checked before tar reads them.
import fs from "node:fs";
import { HashRelayError } from "../errors.ts";
import { TarNameScanner } from "../archive/tar-names.ts";

/** True when `entry` (a tar entry name) is absolute or climbs with a `..` component. */
export function isUnsafeEntry(entry: string): boolean {
  return entry.startsWith("/") || entry.split("/").includes("..");
}

/**
 * `tar -xpf -` into the new folder `into`, fed in order by write(). Every entry name is read from the
 * stream before tar is given the bytes that hold it: an absolute or `..` name refuses the archive (SOURCE)
 * before tar sees it. What tar wrote stays in `into` whatever happens: the caller moves it into place only
 * when everything checked, and removes it otherwise.
 */
export class TarExtraction {
  private readonly child: Bun.Subprocess<"pipe", "ignore", "pipe">;
  private readonly names = new TarNameScanner();
  private readonly stderr: Promise<string>;

  constructor(
    into: string,
    /** The archive's file name, for messages. */
    private readonly archive: string,
  ) {
    fs.mkdirSync(into);
    // Bun's own pipe, not node's stream: node's held the written chunks well after tar had read them (~3x the RSS)
    this.child = Bun.spawn(["tar", "-xpf", "-", "-C", into], { stdin: "pipe", stdout: "ignore", stderr: "pipe" });
    this.stderr = new Response(this.child.stderr).text();
  }

  /** Gives tar the next raw bytes of the stream, waiting until its pipe took them. Throws SOURCE on an unsafe name, or when tar ended early. */
  async write(pieces: Uint8Array[]): Promise<void> {
    const unsafe = pieces.flatMap((piece) => this.names.push(piece)).filter(isUnsafeEntry);
    if (unsafe.length > 0)
      throw new HashRelayError(
        "SOURCE",
        `${this.archive} holds entries outside the target folder (${unsafe
          .slice(0, 3)
          .map((e) => JSON.stringify(e))
          .join(", ")}): refused, nothing extracted`,
        "use --raw to keep the archive file itself",
      );
    try {
      // one write per run of adjacent views (a batch's raw bytes share one buffer): each write the pipe cannot take at once is copied
      for (const run of adjacentRuns(pieces)) this.child.stdin.write(run);
      await this.child.stdin.flush();
    } catch {
      // the pipe broke: tar ended, and says why
      throw await this.failed();
    }
  }

  /** Ends the stream and waits for tar. Throws SOURCE unless tar extracted everything (exit 0). */
  async finish(): Promise<void> {
    try {
      await this.child.stdin.end();
    } catch {
      throw await this.failed();
    }
    if ((await this.child.exited) !== 0) throw await this.failed();
  }

  /** Stops tar (a member failed, or the stream was refused) and waits for it to end. Never throws. */
  async abort(): Promise<void> {
    this.child.kill("SIGKILL");
    await this.child.exited;
  }

  private async failed(): Promise<HashRelayError> {
    const code = await this.child.exited;
    return new HashRelayError("SOURCE", `tar cannot extract ${this.archive} (exit ${code}): ${(await this.stderr).trim()}`);
  }
}

/** `pieces` with each run of views that follow each other in one buffer made one view. */
export function adjacentRuns(pieces: Uint8Array[]): Uint8Array[] {
  const runs: Uint8Array[] = [];
  for (const piece of pieces) {
    const last = runs.at(-1);
    if (last && last.buffer === piece.buffer && last.byteOffset + last.byteLength === piece.byteOffset)
      runs[runs.length - 1] = new Uint8Array(last.buffer, last.byteOffset, last.byteLength + piece.byteLength);
    else runs.push(piece);
  }
  return runs;
}
