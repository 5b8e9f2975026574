// Secrets on disk (private keys, object-store credentials): read only when no one but the owner can read them, as ssh does.
import fs from "node:fs";
import { HashRelayError } from "../errors.ts";

/** How a kind of secret file is named in errors, and what the admin does about each. */
export interface SecretFileKind {
  /** "private key", "credentials file" */
  what: string;
  /** The hint when the file is missing. */
  createHint: string;
  /** The hint when it cannot be read. */
  readHint: string;
}

/**
 * The text of `file`; throws KEY when it is missing, readable by group or others (naming its mode and
 * the chmod), or unreadable.
 */
export function readOwnerOnlyFile(file: string, kind: SecretFileKind): string {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch (err) {
    throw new HashRelayError("KEY", `${kind.what} ${file} not found`, kind.createHint, { cause: err });
  }
  if ((stat.mode & 0o077) !== 0) {
    const mode = (stat.mode & 0o777).toString(8).padStart(4, "0");
    throw new HashRelayError("KEY", `${kind.what} ${file} is readable by group or others (mode ${mode})`, `chmod 600 ${file}`);
  }
  try {
    return fs.readFileSync(file, "utf8");
  } catch (err) {
    throw new HashRelayError("KEY", `cannot read ${kind.what} ${file}: ${(err as Error).message}`, kind.readHint, { cause: err });
  }
}
