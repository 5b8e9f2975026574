// `hashrelay backup-now [--config FILE] [--json]`: the running client daemon backs up now, with the service's privileges.
import { HashRelayError } from "../errors.ts";
import { configPath, parseArgs } from "./args.ts";
import { CONFIG_OPTION, type Command } from "./command.ts";

export const backupNow: Command = {
  name: "backup-now",
  usage: "hashrelay backup-now [--config FILE] [--json]",
  about: "ask the running client service for a tick now and print its result, as client --once does (it reads what the service reads)",
  example: "sudo hashrelay backup-now",
  options: [
    CONFIG_OPTION,
    ["--json", 'print the tick\'s report as one JSON object: {"server","results":[...]}, as client --once --json'],
    [
      "(how)",
      "signals the daemon named in <client.state>/daemon.json (SIGUSR1) and waits for the tick it starts next; run it as root or as the service user",
    ],
    ["(exit codes)", "as client --once: 0 ok; 1 a source failed; 3 server down; 4 refused; 2 usage, config, or no client daemon running"],
  ],
  run: async (argv) => {
    const args = parseArgs(argv, { values: ["--config"], flags: ["--json"] }, "backup-now");
    if (args.positionals.length > 0)
      throw new HashRelayError("USAGE", `unexpected argument ${args.positionals[0]}`, "see: hashrelay help backup-now");
    return backUpNow(configPath(args), args.flags.has("--json"));
  },
};

/** The daemon's tick: its report on stdout, its exit code. Throws CONFIG, and USAGE when no daemon can run it. */
async function backUpNow(configFile: string, json: boolean): Promise<number> {
  const { loadConfig, requireClient } = await import("../io/config-file.ts");
  const { tickThroughDaemon } = await import("../client/backup-now.ts");
  const { printTickReport } = await import("./tick-report.ts");
  // The daemon reads the keys and sources; this command needs only where its state folder is.
  const config = requireClient(loadConfig(configFile, { keyFiles: false }));
  const record = await tickThroughDaemon(config.client.state, (pid) =>
    process.stderr.write(`asked the client daemon (pid ${pid}) for a tick; waiting for its result\n`),
  );
  printTickReport(record, json);
  return record.exitCode ?? 1;
}
