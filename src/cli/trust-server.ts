// `hashrelay trust-server [--key ed25519:...]`: pin the server's new identity after a reinstall, once the admin confirmed it.
import { HashRelayError } from "../errors.ts";
import { configPath, parseArgs } from "./args.ts";
import { CONFIG_OPTION, type Command } from "./command.ts";

export const trustServer: Command = {
  name: "trust-server",
  usage: "hashrelay trust-server [--key ed25519:...] [--config FILE]",
  about:
    "after the server was reinstalled with a new identity: show the key it proves now and, once confirmed, pin it as client.serverKey (comments kept)",
  example: "hashrelay trust-server --config /etc/hashrelay/hashrelay.yaml",
  options: [
    CONFIG_OPTION,
    [
      "--key KEY",
      "pin KEY without asking; it must be the key the server presents (read it on the server: the '# public:' line of its key file)",
    ],
    ["(confirm)", "without --key it shows the pinned key and the one the server presents, and asks on the terminal"],
    [
      "(old receipts)",
      "the key pinned before is kept in <client.state>/server-keys.json: receipts it signed while pinned stay checkable (restore, verify, receipt verify --config)",
    ],
    [
      "(exit codes)",
      "0 pinned, or the server presents the pinned key already; 2 usage, config, not confirmed; 3 server down; 4 the server presents another key than --key, or refuses",
    ],
  ],
  run: async (argv) => {
    const args = parseArgs(argv, { values: ["--config", "--key"] }, "trust-server");
    if (args.positionals.length > 0)
      throw new HashRelayError("USAGE", `unexpected argument ${args.positionals[0]}`, "see: hashrelay help trust-server");
    const request = { configFile: configPath(args), key: args.values.get("--key") };
    return (await import("../client/trust-server.ts")).trustServer(request);
  },
};
