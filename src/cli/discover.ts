// `hashrelay discover [--config FILE] [--wait DURATION]`: find the pinned server on the LAN, print ADDR:PORT.
import { HashRelayError } from "../errors.ts";
import { parseDuration } from "../config/units.ts";
import { discoverServer, DISCOVERY_WAIT_MS } from "../session/discovery.ts";
import { configPath, parseArgs } from "./args.ts";
import { loadConfig, requireClient } from "../io/config-file.ts";

/** Prints "ADDR:PORT" of the server that answered with the pinned client.serverKey; throws SERVER_DOWN (exit 3) if none did. */
export async function discover(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ["--config", "--wait"] }, "discover");
  if (args.positionals.length > 0)
    throw new HashRelayError("USAGE", `unexpected argument ${args.positionals[0]}`, "see: hashrelay help discover");
  const waitText = args.values.get("--wait");
  const waitMs = waitText === undefined ? DISCOVERY_WAIT_MS : parseDuration(waitText);
  if (waitMs === null || waitMs <= 0 || waitMs > 60_000) {
    throw new HashRelayError("USAGE", `--wait ${waitText}: expected a duration up to 60s, e.g. 2s`, "see: hashrelay help discover");
  }
  const config = requireClient(loadConfig(configPath(args)));
  const found = await discoverServer({ port: config.port, serverKey: config.client.serverKey, waitMs });
  if (!found) {
    throw new HashRelayError(
      "SERVER_DOWN",
      `no server answered LAN discovery on UDP port ${config.port} with the pinned key ${config.client.serverKeyText}`,
      "is the server running on this LAN with the same port:, and does the firewall let UDP through? (dependencies/ufw-configuration-manager)",
    );
  }
  process.stdout.write(`${found.host}:${found.port}\n`);
  return 0;
}
