// The name the server stores this client under (`welcome.client`) against client.name: a difference is warned once per change.
import type { Logger } from "../io/log.ts";

/** client.name and the name the server gives this client's key, when the two differ. */
export interface NameMismatch {
  configured: string;
  server: string;
}

/**
 * The mismatch a session shows (null when the server uses client.name). It is logged as a warning
 * when it differs from the one the last tick recorded (`before`), and a cured one is logged once too:
 * a daemon ticking every minute on a wrong name says so once, not every minute (PROTOCOL.md §10).
 */
export function checkServerName(configured: string, server: string, before: NameMismatch | undefined, log: Logger): NameMismatch | null {
  const now = server === configured ? null : { configured, server };
  if (now && (now.configured !== before?.configured || now.server !== before.server)) {
    log.log("warn", nameMismatchMessage(now), { configured, server });
  } else if (!now && before) {
    log.log("info", `the server now stores this client as "${server}", its client.name`);
  }
  return now;
}

/** What the log and `hashrelay status` say about a mismatch, with what to do. */
export function nameMismatchMessage(m: NameMismatch): string {
  return `this client is named "${m.configured}" (client.name) but the server lists its key as "${m.server}": its archives are stored under ${m.server}/ on the server; set client.name: ${m.server}, or list this key as ${m.configured} under server.clients`;
}
