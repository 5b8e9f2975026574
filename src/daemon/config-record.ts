// Config attestation on disk: the config each agent has in force (for `status`), and on the server the hash each client reports.
import fs from "node:fs";
import path from "node:path";
import { writeFileAtomic } from "../io/atomic-file.ts";
import type { ConfigRecord } from "./reload.ts";

/** Where the client keeps its record: `<client.state>/config.json`. */
export function clientRecordPath(stateDir: string): string {
  return path.join(stateDir, "config.json");
}

/** Where the server keeps its record: `<storage>/.hashrelay/config.json`. */
export function serverRecordPath(storage: string): string {
  return path.join(storage, ".hashrelay", "config.json");
}

/** Writes the record atomically (0600). Throws fs errors (the folder must exist). */
export async function writeConfigRecord(file: string, record: ConfigRecord): Promise<void> {
  await writeFileAtomic(file, JSON.stringify(record, null, 2) + "\n", 0o600);
}

/** The record at `file`, or null when there is none or it cannot be read. Never throws. */
export function readConfigRecord(file: string): ConfigRecord | null {
  try {
    const value = JSON.parse(fs.readFileSync(file, "utf8")) as ConfigRecord;
    return typeof value === "object" && value !== null && "hash" in value ? value : null;
  } catch {
    return null;
  }
}

/** The config hash a client last reported in `ping`, and when. */
export interface ClientConfigSeen {
  hash: string;
  /** When this hash was first reported (the client applied it around then). */
  since: string;
  /** The last session that reported it. */
  lastSeen: string;
}

/**
 * The server's memory of each client's config hash, in `<storage>/.hashrelay/client-configs.json`
 * (written atomically, one write at a time), so drift from git shows on the NAS.
 */
export class ClientConfigs {
  private readonly file: string;
  private readonly seen: Record<string, ClientConfigSeen>;
  private writing: Promise<void> = Promise.resolve();

  constructor(storage: string) {
    this.file = ClientConfigs.path(storage);
    this.seen = ClientConfigs.read(storage);
  }

  static path(storage: string): string {
    return path.join(storage, ".hashrelay", "client-configs.json");
  }

  /** What the file holds; {} when it is missing or unreadable. Never throws. */
  static read(storage: string): Record<string, ClientConfigSeen> {
    try {
      const value = JSON.parse(fs.readFileSync(ClientConfigs.path(storage), "utf8")) as { clients?: Record<string, ClientConfigSeen> };
      return value.clients && typeof value.clients === "object" ? value.clients : {};
    } catch {
      return {};
    }
  }

  /**
   * Records that `client` reported `hash` at `at`; returns what was known before (null the first time).
   * The write happens in the background; `flushed()` waits for it. A failed write is given to `onError`.
   */
  saw(client: string, hash: string, at: Date, onError: (err: unknown) => void): ClientConfigSeen | null {
    const before = this.seen[client] ?? null;
    const when = at.toISOString();
    this.seen[client] = { hash, since: before && before.hash === hash ? before.since : when, lastSeen: when };
    const snapshot = JSON.stringify({ clients: this.seen }, null, 2) + "\n";
    this.writing = this.writing.then(() => writeFileAtomic(this.file, snapshot, 0o640)).catch(onError);
    return before;
  }

  flushed(): Promise<void> {
    return this.writing;
  }
}
