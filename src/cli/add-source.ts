// `hashrelay -add|-a PATH [--name NAME] [--exclude PATTERN]...`: add a source to client.paths of the config file, in place.
import { HashRelayError } from "../errors.ts";
import { configPath, parseArgs } from "./args.ts";
import { CONFIG_OPTION, type Command } from "./command.ts";
import type { AddRequest } from "./source-edit.ts";

export const addSource: Command = {
  name: "-add",
  aliases: ["-a"],
  helpAliases: ["add", "a"],
  usage: "hashrelay -add|-a PATH [--name NAME] [--exclude PATTERN]... [--config FILE]",
  about: "add a source to client.paths (comments and layout kept); a running client applies it live",
  example: "hashrelay -add /var/www --name www --exclude '*.log'",
  options: [
    ["PATH", "an existing folder or file; a relative path is resolved against the current folder and written as an absolute path"],
    ["--name NAME", "its name in archive names (default: the last part of the path, slugified)"],
    ["--exclude PATTERN", 'leave paths matching PATTERN out of its archives, e.g. "*.log" or "cache/" (repeatable)'],
    CONFIG_OPTION,
  ],
  run: async (argv) => {
    const request = addRequest(argv);
    return (await import("./source-edit.ts")).addToConfig(request);
  },
};

/** The request argv makes; throws USAGE unless there is one PATH and every --exclude has a pattern. */
function addRequest(argv: string[]): AddRequest {
  const { rest, exclude } = takeExcludes(argv, "-add");
  const args = parseArgs(rest, { values: ["--config", "--name"] }, "-add");
  if (args.positionals.length !== 1) throw new HashRelayError("USAGE", "-add takes one path", "e.g. hashrelay -add /var/www --name www");
  return { configFile: configPath(args), given: args.positionals[0]!, name: args.values.get("--name"), exclude };
}

/** Pulls every `--exclude P` / `--exclude=P` out of argv (the option may repeat). */
function takeExcludes(argv: string[], command: string): { rest: string[]; exclude: string[] } {
  const rest: string[] = [];
  const exclude: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--exclude") {
      const value = argv[++i];
      if (value === undefined) throw new HashRelayError("USAGE", "--exclude needs a pattern", `see: hashrelay help ${command}`);
      exclude.push(value);
    } else if (arg.startsWith("--exclude=")) {
      exclude.push(arg.slice("--exclude=".length));
    } else {
      rest.push(arg);
    }
  }
  if (exclude.some((p) => p === "")) throw new HashRelayError("USAGE", "--exclude needs a pattern", 'e.g. --exclude "*.log"');
  return { rest, exclude };
}
