// `hashrelay -add|-a PATH` and `hashrelay -remove|-rm PATH`: edit client.paths of the config file in place.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { HashRelayError } from "../errors.ts";
import { addSourceText, removeSourceText } from "../config/config-edit.ts";
import { formatIssue, parseConfig, type Config, type SourceConfig } from "../config/parse-config.ts";
import { editFileLocked } from "../io/file-edit.ts";
import { configPath, parseArgs } from "./args.ts";

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

/** The config's text parsed as the agents would, minus key-file checks (the edit does not touch keys). */
function parseForEdit(text: string, file: string): Config & { client: NonNullable<Config["client"]> } {
  const result = parseConfig(text, file, { hostname: os.hostname() });
  if (!result.ok) {
    throw new HashRelayError(
      "CONFIG",
      `${file} is not valid, so it was not edited:\n${result.issues.map(formatIssue).join("\n")}`,
      "fix it first (hashrelay validate), then run this again",
    );
  }
  if (!result.config.client)
    throw new HashRelayError(
      "CONFIG",
      `${file} has no client: section`,
      "sources belong to a client: add a client: section (see hashrelay.example.yaml)",
    );
  return result.config as Config & { client: NonNullable<Config["client"]> };
}

/** Parses the edited text; refuses the edit (nothing is written) when it would make the file invalid. */
function checkEdited(text: string, file: string, hint: string): Config & { client: NonNullable<Config["client"]> } {
  const result = parseConfig(text, file, { hostname: os.hostname() });
  if (!result.ok) {
    const lines = result.issues.map((i) => `${i.key}: ${i.message} (${i.hint})`);
    throw new HashRelayError("USAGE", `this edit would make ${file} invalid, so it was not written:\n${lines.join("\n")}`, hint);
  }
  return result.config as Config & { client: NonNullable<Config["client"]> };
}

async function edit(file: string, change: (text: string) => string): Promise<void> {
  try {
    await editFileLocked(file, change);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "EACCES" || code === "EPERM" || code === "EROFS") {
      throw new HashRelayError(
        "CONFIG",
        `cannot edit config ${file}: ${code}`,
        "pass --config FILE or set HASHRELAY_CONFIG; editing needs write access to the file's folder",
        { cause: err },
      );
    }
    throw err;
  }
}

const RELOAD_NOTE = "a running client picks the change up by itself (it watches its config file)";

/** `hashrelay -add PATH [--name NAME] [--exclude PATTERN]... [--config FILE]`. */
export async function addSource(argv: string[]): Promise<number> {
  const { rest, exclude } = takeExcludes(argv, "-add");
  const args = parseArgs(rest, { values: ["--config", "--name"] }, "-add");
  if (args.positionals.length !== 1) throw new HashRelayError("USAGE", "-add takes one path", "e.g. hashrelay -add /var/www --name www");
  const given = args.positionals[0]!;
  const abs = path.resolve(process.cwd(), given);
  if (!exists(abs)) {
    const where = path.isAbsolute(given) ? "" : ` (relative paths are resolved against the current folder: ${abs})`;
    throw new HashRelayError("USAGE", `${given} does not exist${where}`, "give the path of an existing folder or file");
  }
  const file = configPath(args);
  const name = args.values.get("--name");
  let added: SourceConfig | undefined;
  await edit(file, (text) => {
    const before = parseForEdit(text, file);
    const listed = before.client.paths.find((s) => s.path === abs);
    if (listed)
      throw new HashRelayError(
        "USAGE",
        `${abs} is already listed in ${file} (source "${listed.name}", line ${listed.line})`,
        "nothing to do; to change its options, edit the file",
      );
    const out = addSourceText(text, { path: abs, name, exclude });
    const after = checkEdited(out, file, "give it another name with --name NAME");
    added = after.client.paths[after.client.paths.length - 1];
    return out;
  });
  process.stdout.write(`added ${abs} to ${file} as source "${added!.name}"; ${RELOAD_NOTE}\n`);
  return 0;
}

/** `hashrelay -remove PATH [--config FILE]`, or `-remove --name NAME`. */
export async function removeSource(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ["--config", "--name"] }, "-remove");
  const name = args.values.get("--name");
  if (args.positionals.length > 1 || (args.positionals.length === 0) === (name === undefined)) {
    throw new HashRelayError("USAGE", "-remove takes one path, or --name NAME", "e.g. hashrelay -remove /var/www");
  }
  const given = args.positionals[0];
  const abs = given === undefined ? undefined : path.resolve(process.cwd(), given);
  const file = configPath(args);
  let removed: SourceConfig | undefined;
  await edit(file, (text) => {
    const before = parseForEdit(text, file);
    const sources = before.client.paths;
    // A path first; a bare word that is no listed path may still be a source name ("hashrelay -rm www").
    let index = name !== undefined ? sources.findIndex((s) => s.name === name) : sources.findIndex((s) => s.path === abs);
    if (index < 0 && given !== undefined && !given.includes("/")) index = sources.findIndex((s) => s.name === given);
    if (index < 0) {
      const what = name !== undefined ? `no source is named "${name}"` : `${abs} is not listed`;
      throw new HashRelayError("USAGE", `${what} in ${file}`, `listed: ${sources.map((s) => `${s.path} (${s.name})`).join(", ")}`);
    }
    removed = sources[index]!;
    if (sources.length === 1) {
      throw new HashRelayError(
        "USAGE",
        `${removed.path} is the only source in ${file}; a client needs at least one`,
        "add the new source first, or stop the client",
      );
    }
    const out = removeSourceText(text, index);
    checkEdited(out, file, "edit the file by hand");
    return out;
  });
  process.stdout.write(
    `removed ${removed!.path} (source "${removed!.name}") from ${file}; its archives stay on the server; ${RELOAD_NOTE}\n`,
  );
  return 0;
}

function exists(abs: string): boolean {
  try {
    fs.lstatSync(abs);
    return true;
  } catch {
    return false;
  }
}
