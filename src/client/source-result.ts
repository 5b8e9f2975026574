// What backing up one source came to: the per-source line of `--once --json`, status and systemd.
import type { HeldArchive } from "../protocol/messages.ts";

export type SourceStatus = "sent" | "unchanged" | "skipped" | "failed";

export interface SourceResult {
  name: string;
  archive: string | null;
  status: SourceStatus;
  bytesSent: number;
  chunksTotal: number;
  chunksSent: number;
  error?: string;
  /** The server holds this source's previous archive as a suspect replacement (PROTOCOL.md §6, `held`). */
  held?: HeldArchive;
}

/** The result of a source that moved no byte: skipped (server down) or failed before its upload began. */
export function resultWithoutTransfer(name: string, status: "skipped" | "failed", error: string): SourceResult {
  return { name, archive: null, status, bytesSent: 0, chunksTotal: 0, chunksSent: 0, error };
}
