// `hashrelay discover [--config FILE] [--wait DURATION]`: find the pinned server on the LAN, print ADDR:PORT.
import { HashRelayError } from "../errors.ts";
import { parseDuration } from "../config/units.ts";
import { configPath, parseArgs } from "./args.ts";
import { CONFIG_OPTION, type Command } from "./command.ts";

export const discover: Command = {
  name: "discover",
  usage: "hashrelay discover [--config FILE] [--wait 2s]",
  about: "find the pinned server on the LAN (UDP broadcast on the agreed port); prints ADDR:PORT, exit 3 if none answered",
  example: "hashrelay discover --config /etc/hashrelay/hashrelay.yaml",
  options: [
    CONFIG_OPTION,
    ["--wait DURATION", "how long to wait for answers (default 2s)"],
    ["(exit codes)", "0 found (ADDR:PORT on stdout), 3 no answer from the pinned server"],
  ],
  run: findServer,
};

/** Prints "ADDR:PORT" of the server that answered with the pinned client.serverKey; throws SERVER_DOWN (exit 3) if none did. */
async function findServer(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ["--config", "--wait"] }, "discover");
  if (args.positionals.length > 0)
    throw new HashRelayError("USAGE", `unexpected argument ${args.positionals[0]}`, "see: hashrelay help discover");
  const { discoverServer, DISCOVERY_WAIT_MS } = await import("../session/discovery.ts");
  const waitText = args.values.get("--wait");
  const waitMs = waitText === undefined ? DISCOVERY_WAIT_MS : parseDuration(waitText);
  if (waitMs === null || waitMs <= 0 || waitMs > 60_000) {
    throw new HashRelayError("USAGE", `--wait ${waitText}: expected a duration up to 60s, e.g. 2s`, "see: hashrelay help discover");
  }
  const { loadConfig, requireClient } = await import("../io/config-file.ts");
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
