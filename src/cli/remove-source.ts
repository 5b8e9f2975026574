// `hashrelay -remove|-rm PATH` or `-remove --name NAME`: remove a source from client.paths of the config file, in place.
import { HashRelayError } from "../errors.ts";
import { configPath, parseArgs } from "./args.ts";
import { CONFIG_OPTION, type Command } from "./command.ts";

export const removeSource: Command = {
  name: "-remove",
  aliases: ["-rm"],
  helpAliases: ["remove", "rm"],
  usage: "hashrelay -remove|-rm PATH [--config FILE]   or   hashrelay -remove --name NAME",
  about: "remove a source from client.paths; its archives stay on the server",
  example: "hashrelay -rm /var/www",
  options: [
    ["PATH", "a listed path (a relative path is resolved against the current folder), or a source name"],
    ["--name NAME", "remove the source with this name"],
    CONFIG_OPTION,
  ],
  run: async (argv) => {
    const args = parseArgs(argv, { values: ["--config", "--name"] }, "-remove");
    const name = args.values.get("--name");
    if (args.positionals.length > 1 || (args.positionals.length === 0) === (name === undefined)) {
      throw new HashRelayError("USAGE", "-remove takes one path, or --name NAME", "e.g. hashrelay -remove /var/www");
    }
    const request = { configFile: configPath(args), given: args.positionals[0], name };
    return (await import("./source-edit.ts")).removeFromConfig(request);
  },
};
