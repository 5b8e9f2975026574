// `hashrelay client --config FILE [--once] [--json]`: one tick, or ticks on the configured schedule until SIGTERM.
import { configPath, parseArgs } from "./args.ts";
import { CONFIG_OPTION, LIVE_NOTE, LOG_FORMAT_OPTION, type Command } from "./command.ts";

export const client: Command = {
  name: "client",
  usage: "hashrelay client [--config FILE] [--once] [--json] [--log-format text|json]",
  about: "back up every source on the schedule; --once: one tick, then exit",
  example: "hashrelay client --config /etc/hashrelay/hashrelay.yaml --once --json",
  options: [
    CONFIG_OPTION,
    [
      "--once",
      "run one tick in this process, with your rights, then exit with its exit code (progress on stderr: bars on a terminal, a line per source otherwise); it waits while another tick runs on the state folder. hashrelay backup-now has the service tick instead",
    ],
    ["--json", "with --once: print the tick's report as one JSON object"],
    LOG_FORMAT_OPTION,
    LIVE_NOTE,
  ],
  run: async (argv) => {
    const args = parseArgs(argv, { values: ["--config", "--log-format"], flags: ["--once", "--json"] }, "client");
    const request = { configFile: configPath(args), logFormat: args.values.get("--log-format"), json: args.flags.has("--json") };
    // One tick does not load what the daemon needs (live config, schedule timer, systemd), nor the other way round.
    if (args.flags.has("--once")) return (await import("./client-once.ts")).runOnce(request);
    return (await import("../client/daemon.ts")).runDaemon(request);
  },
};
