// What a command is to main.ts: the names it answers to, its help, and its entry point.

/** [option, what it does]: one row of `hashrelay help COMMAND`. */
export type OptionHelp = readonly [option: string, what: string];

/**
 * One `hashrelay COMMAND`. A command file imports only light modules (errors, args, these types)
 * and loads its real work with `await import(...)` inside run: main.ts imports every command, and
 * `hashrelay --version` must not evaluate what the commands need (src/cli/lazy-loading.test.ts).
 */
export interface Command {
  /** As `hashrelay --help` lists it: "client", "-add". */
  name: string;
  /** Other names it answers to on the command line and in `hashrelay help NAME`: "-a". */
  aliases?: readonly string[];
  /** Names only `hashrelay help NAME` knows it by: "add", "a". */
  helpAliases?: readonly string[];
  usage: string;
  about: string;
  example: string;
  options: readonly OptionHelp[];
  /** Runs with the arguments after the command's name; resolves to the exit code. Throws HashRelayError (main.ts prints it). */
  run: (argv: string[]) => Promise<number>;
}

export const CONFIG_OPTION: OptionHelp = [
  "--config FILE",
  "the config file (default: $HASHRELAY_CONFIG, else /etc/hashrelay/hashrelay.yaml)",
];

export const LIVE_NOTE: OptionHelp = [
  "(live config)",
  "the file is watched: an edit applies without restart (SIGHUP forces a reload); an invalid edit is logged and ignored",
];

export const LOG_FORMAT_OPTION: OptionHelp = [
  "--log-format text|json",
  "log lines as text (default) or one JSON object each, on stderr and in the log file",
];
