// Reads and validates the config file for a command; every problem is printed with file:line:col.
import fs from "node:fs";
import os from "node:os";
import { HashRelayError } from "../errors.ts";
import { formatIssue, parseConfig, type Config, type ConfigIssue, type ParseResult } from "../config/parse-config.ts";
import { realFileFacts } from "./file-facts.ts";

export type ConfigResult = { ok: true; config: Config } | { ok: false; issues: ConfigIssue[] };

/** Reads `file` and validates it (key files checked on disk unless keyFiles is false). Throws CONFIG if the file cannot be read. */
export function readConfig(file: string, opts: { keyFiles?: boolean } = {}): ConfigResult {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    throw new HashRelayError(
      "CONFIG",
      `cannot read config ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      "pass --config FILE or set HASHRELAY_CONFIG",
    );
  }
  const result = opts.keyFiles === false ? parseConfig(text, file, { hostname: os.hostname() }) : parseConfigText(text, file);
  return result.ok ? { ok: true, config: result.config } : { ok: false, issues: result.issues };
}

/** parseConfig with this machine's host name and key files checked on disk (what the agents run on). */
export function parseConfigText(text: string, file: string): ParseResult {
  return parseConfig(text, file, { hostname: os.hostname(), facts: realFileFacts });
}

/** Like readConfig, but an invalid file throws CONFIG carrying every issue line in its message. */
export function loadConfig(file: string, opts: { keyFiles?: boolean } = {}): Config {
  const result = readConfig(file, opts);
  if (result.ok) return result.config;
  throw new HashRelayError("CONFIG", result.issues.map(formatIssue).join("\n"), "");
}

export type ClientConfig = Config & { client: NonNullable<Config["client"]> };
export type ServerConfig = Config & { server: NonNullable<Config["server"]> };

/** The config, which must have a client section; CONFIG otherwise. */
export function requireClient(config: Config): ClientConfig {
  if (!config.client)
    throw new HashRelayError("CONFIG", `${config.file}: no client section`, "add a client: section (see hashrelay.example.yaml)");
  return config as ClientConfig;
}

/** The config, which must have a server section; CONFIG otherwise. */
export function requireServer(config: Config): ServerConfig {
  if (!config.server)
    throw new HashRelayError("CONFIG", `${config.file}: no server section`, "add a server: section (see hashrelay.example.yaml)");
  return config as ServerConfig;
}
