// What the client remembers between ticks, under `client.state`: per-source records, receipts, last tick.
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { writeFileAtomic } from "../io/atomic-file.ts";
import type { SignedDoc } from "../protocol/signed-document.ts";
import type { DownKind } from "../daemon/status-line.ts";
import type { NameMismatch } from "./server-name.ts";
import type { SourceResult } from "./source-result.ts";

/** What the last successful backup of a source left behind. */
export interface SourceRecord {
  name: string;
  /** Cheap change detector over the walked tree (metadata only). */
  fingerprint: string;
  archiveId: string;
  file: string;
  /** Chunks in that archive, reported as chunksTotal when the source is unchanged. */
  chunks: number;
  at: string;
  /** The folder under state/sources holding that archive's source index (client/source-index/), when one was written. */
  sourceIndex?: string;
}

export interface TickRecord {
  at: string;
  server: "up" | "down";
  /** "host:port" probed. */
  address?: string;
  /** When the server last went Up or Down (the probe-viewer's "since"). */
  since?: string;
  /** Why it is Down: refused, timeout, unauthorized… (see server-availability.ts). */
  kind?: DownKind;
  reason?: string;
  results: SourceResult[];
  nextTick?: string;
  // Which tick this was: `hashrelay backup-now` waits for the record of a tick its daemon started after the request.
  /** When the tick began (`at` is when it ended). */
  startedAt?: string;
  /** The process that ran it (the daemon, or a `client --once`). */
  pid?: number;
  /** The tick's exit code, as `client --once` would exit (0, 1, 3, 4). */
  exitCode?: number;
  /** The server lists this client's key under another name than client.name (as of the last session; client/server-name.ts). */
  nameMismatch?: NameMismatch;
}

export class ClientState {
  constructor(readonly dir: string) {}

  /** Creates the state folder (0700: it holds receipts and logs). */
  init(): void {
    fs.mkdirSync(path.join(this.dir, "sources"), { recursive: true, mode: 0o700 });
    fs.mkdirSync(path.join(this.dir, "receipts"), { recursive: true, mode: 0o700 });
  }

  /** The proof material for `hashrelay verify` (client/proof-store.ts). */
  get proofsFile(): string {
    return path.join(this.dir, "proofs.sqlite");
  }

  get logFile(): string {
    return path.join(this.dir, "hashrelay.log");
  }

  source(name: string): SourceRecord | null {
    try {
      return JSON.parse(fs.readFileSync(path.join(this.dir, "sources", `${name}.json`), "utf8")) as SourceRecord;
    } catch {
      return null;
    }
  }

  async saveSource(record: SourceRecord): Promise<void> {
    await writeFileAtomic(path.join(this.dir, "sources", `${record.name}.json`), JSON.stringify(record, null, 2) + "\n", 0o600);
  }

  /** Keeps every receipt: receipts/<name>/<file>.receipt.json. */
  async saveReceipt(name: string, file: string, receipt: SignedDoc): Promise<string> {
    const dir = path.join(this.dir, "receipts", name);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const target = path.join(dir, `${file}.receipt.json`);
    await writeFileAtomic(target, JSON.stringify(receipt, null, 2) + "\n", 0o600);
    return target;
  }

  /** A new, unused folder for a source index of source `name`, beside its current one (not created). */
  newIndexDir(name: string): string {
    return path.join(this.dir, "sources", `${name}.${randomBytes(6).toString("hex")}.index`);
  }

  /** The folder of the source index that `record` names, or null. */
  indexDir(record: SourceRecord): string | null {
    return record.sourceIndex ? path.join(this.dir, "sources", record.sourceIndex) : null;
  }

  /**
   * Removes source `name`'s index folders but the one named `keep` (an index abandoned by a crash, or
   * replaced), and its block index and segment files of earlier versions. Never throws.
   */
  pruneIndexes(name: string, keep?: string): void {
    const sources = path.join(this.dir, "sources");
    let names: string[] = [];
    try {
      names = fs.readdirSync(sources);
    } catch {
      return;
    }
    for (const entry of names) {
      const ours =
        (entry.startsWith(`${name}.`) && entry.endsWith(".index")) || entry === `${name}.blocks` || entry === `${name}.segments.json`;
      if (ours && entry !== keep) fs.rmSync(path.join(sources, entry), { recursive: true, force: true });
    }
  }

  /** Forgets the source index: the next backup of this source reads everything and sends whole chunks. */
  dropBlocks(name: string): void {
    this.pruneIndexes(name);
  }

  /** Where lastTick and saveTick keep the last tick (every tick rewrites it, whichever process ran it). */
  get tickFile(): string {
    return path.join(this.dir, "status.json");
  }

  lastTick(): TickRecord | null {
    try {
      return JSON.parse(fs.readFileSync(path.join(this.dir, "status.json"), "utf8")) as TickRecord;
    } catch {
      return null;
    }
  }

  async saveTick(record: TickRecord): Promise<void> {
    await writeFileAtomic(path.join(this.dir, "status.json"), JSON.stringify(record, null, 2) + "\n", 0o600);
  }
}
