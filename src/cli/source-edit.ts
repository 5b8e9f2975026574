// What `hashrelay -add` and `-remove` do: edit client.paths of the config file in place, refusing an edit that would make it invalid.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { HashRelayError } from "../errors.ts";
import { addSourceText, removeSourceText } from "../config/config-edit.ts";
import { formatIssue, parseConfig, type Config, type SourceConfig } from "../config/parse-config.ts";
import { editFileLocked } from "../io/file-edit.ts";

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

/** `hashrelay -add` as its flags asked (src/cli/add-source.ts). */
export interface AddRequest {
  configFile: string;
  /** PATH as given; a relative one is resolved against the current folder. */
  given: string;
  name: string | undefined;
  exclude: string[];
}

/** Adds the source, unless PATH does not exist or is listed, or the edit would make the file invalid (USAGE, CONFIG). */
export async function addToConfig(request: AddRequest): Promise<number> {
  const { given, name, exclude } = request;
  const abs = path.resolve(process.cwd(), given);
  if (!exists(abs)) {
    const where = path.isAbsolute(given) ? "" : ` (relative paths are resolved against the current folder: ${abs})`;
    throw new HashRelayError("USAGE", `${given} does not exist${where}`, "give the path of an existing folder or file");
  }
  const file = request.configFile;
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

/** Removes the source named by PATH (or a bare source name) or --name, unless it is not listed or is the only one (USAGE, CONFIG). */
export async function removeFromConfig(request: {
  configFile: string;
  given: string | undefined;
  name: string | undefined;
}): Promise<number> {
  const { given, name } = request;
  const abs = given === undefined ? undefined : path.resolve(process.cwd(), given);
  const file = request.configFile;
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
