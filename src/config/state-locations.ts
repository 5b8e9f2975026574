// Where the agents keep their state, read leniently from a config file that may not validate.
import { posix } from "node:path";
import { parseDocument } from "yaml";
import { DEFAULT_CACHE, DEFAULT_STATE, DEFAULT_STORAGE } from "./build-config.ts";
import { isS3Url } from "./bucket-config.ts";

/**
 * client.state and server.storage (server.cache when that is an s3:// URL) of `text` as absolute paths (defaults applied, relative paths against
 * the file's folder), for each section present: enough for `status` to find the record of the config in
 * force while the file on disk is invalid. Never throws; a file that is not YAML gives {}.
 */
export function stateLocations(text: string, file: string): { clientState?: string; serverStorage?: string } {
  let value: unknown;
  try {
    const doc = parseDocument(text);
    if (doc.errors.length > 0) return {};
    value = doc.toJS({ maxAliasCount: 100 });
  } catch {
    return {};
  }
  if (!isFields(value)) return {};
  const dir = posix.dirname(posix.resolve(file));
  const at = (raw: unknown, fallback: string) =>
    posix.resolve(dir, typeof raw === "string" && raw !== "" && !raw.startsWith("~") ? raw : fallback);
  const out: { clientState?: string; serverStorage?: string } = {};
  if (isFields(value.client)) out.clientState = at(value.client.state, DEFAULT_STATE);
  if (isFields(value.server)) {
    const { storage, cache } = value.server;
    out.serverStorage = typeof storage === "string" && isS3Url(storage) ? at(cache, DEFAULT_CACHE) : at(storage, DEFAULT_STORAGE);
  }
  return out;
}

function isFields(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}
