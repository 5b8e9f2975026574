// `hashrelay release NAME [--client C]` and `hashrelay release --list`: lift a hold on a suspect replacement, on the server.
import { configPath, parseArgs } from "./args.ts";
import { CONFIG_OPTION, type Command } from "./command.ts";

export const release: Command = {
  name: "release",
  usage: "hashrelay release NAME [--client C] [--config FILE] [--json]   or   hashrelay release --list [--config FILE] [--json]",
  about:
    "on the server: lift the hold on a suspect replacement (ransomware guard) so retention may trash the kept archive; --list: the holds",
  example: "hashrelay release www --client web01 --config /etc/hashrelay/hashrelay.yaml",
  options: [
    CONFIG_OPTION,
    ["NAME", "the held source name (see hashrelay release --list or hashrelay status)"],
    ["--client C", "the client whose source is held (needed only when several clients hold NAME)"],
    ["--list", "list the holds: client/name, the kept archive, the suspect one, why, since when"],
    ["--json", 'print {"client","name","kept","released","where"?,"queued"?} or, with --list, {"holds":[...],"unreadable":[...]}'],
    [
      "(how)",
      "the running server applies the request within seconds and the kept archive goes to the trash (purged after trashFor); a client can never release over the wire",
    ],
    [
      "(exit codes)",
      "0 released or listed; 1 the server kept the hold (see its log); 2 usage, config or no such hold; 3 the server is not running or did not answer in 15 s: the request stays queued and applies at its next start",
    ],
  ],
  run: async (argv) => {
    const args = parseArgs(argv, { values: ["--config", "--client"], flags: ["--json", "--list"] }, "release");
    const request = {
      configFile: configPath(args),
      names: args.positionals,
      client: args.values.get("--client"),
      list: args.flags.has("--list"),
      json: args.flags.has("--json"),
    };
    return (await import("./release-hold.ts")).releaseCommand(request);
  },
};
