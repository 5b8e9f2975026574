// A small argv reader: flags with values, boolean flags, positionals; unknown flags are usage errors.
import { HashRelayError } from "../errors.ts";

export interface ParsedArgs {
  values: Map<string, string>;
  flags: Set<string>;
  positionals: string[];
}

/** Parses argv against the allowed value options and boolean flags. Throws USAGE naming the bad argument. */
export function parseArgs(argv: string[], spec: { values?: string[]; flags?: string[] }, command: string): ParsedArgs {
  const values = new Map<string, string>();
  const flags = new Set<string>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg.startsWith("--") && arg.length > 2) {
      const [name, inline] = arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
      if (spec.values?.includes(name)) {
        const value = inline ?? argv[++i];
        if (value === undefined) throw new HashRelayError("USAGE", `${name} needs a value`, `see: hashrelay help ${command}`);
        values.set(name, value);
      } else if (spec.flags?.includes(name) && inline === undefined) {
        flags.add(name);
      } else {
        throw new HashRelayError("USAGE", `unknown option ${arg} for ${command}`, `see: hashrelay help ${command}`);
      }
    } else {
      positionals.push(arg);
    }
  }
  return { values, flags, positionals };
}

/** --config, else $HASHRELAY_CONFIG, else /etc/hashrelay/hashrelay.yaml. */
export function configPath(args: ParsedArgs): string {
  return args.values.get("--config") ?? process.env.HASHRELAY_CONFIG ?? "/etc/hashrelay/hashrelay.yaml";
}
