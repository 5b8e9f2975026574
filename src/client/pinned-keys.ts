// The server keys this client pinned before the one in its config (<client.state>/server-keys.json): receipts they signed stay checkable.
import fs from "node:fs";
import path from "node:path";
import { writeFileAtomic } from "../io/atomic-file.ts";
import { parsePublicKey } from "../protocol/identity.ts";

/** A server key this client pinned until `until` (ISO time), when `hashrelay trust-server` pinned another. */
export interface EarlierServerKey {
  key: string;
  until: string;
}

/** The keys a kept receipt may be signed by: the one pinned now, and the ones pinned before with their end. */
export interface ServerPins {
  current: Uint8Array;
  before: EarlierServerKey[];
}

const FILE = "server-keys.json";

/** The server keys pinned before, oldest first; [] when none were recorded or the file is unreadable (never throws). */
export function earlierServerKeys(stateDir: string): EarlierServerKey[] {
  try {
    const value = JSON.parse(fs.readFileSync(path.join(stateDir, FILE), "utf8")) as { before?: unknown };
    if (!Array.isArray(value.before)) return [];
    return value.before.filter(
      (k): k is EarlierServerKey =>
        typeof k === "object" && k !== null && typeof k.key === "string" && parsePublicKey(k.key) !== null && typeof k.until === "string",
    );
  } catch {
    return [];
  }
}

/** The pins of a client whose config pins `current`, with the keys its state folder recorded. */
export function serverPins(client: { state: string; serverKey: Uint8Array }): ServerPins {
  return { current: client.serverKey, before: earlierServerKeys(client.state) };
}

/**
 * Records that `key` stays pinned until `until` (a key recorded before gets the later end), durably
 * (temp file, fsync, rename), mode 0600, creating the state folder when missing. Throws fs errors.
 */
export async function recordEarlierServerKey(stateDir: string, key: string, until: string): Promise<void> {
  const before = earlierServerKeys(stateDir).filter((k) => k.key !== key);
  before.push({ key, until });
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(path.join(stateDir, FILE), JSON.stringify({ v: 1, before }, null, 2) + "\n", 0o600);
}
