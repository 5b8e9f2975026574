// Private key files on disk: created 0600, refused when group or others can read them (as ssh does).
import fs from "node:fs";
import { randomBytes } from "node:crypto";
import { HashRelayError } from "../errors.ts";
import { formatSecretKeyFile, identityFromSeed, parseSecretKeyFile, type Identity } from "../protocol/identity.ts";

/** Creates a new identity in `file` (mode 0600). Throws KEY if it exists and `force` is false. */
export function createKeyFile(file: string, force: boolean): Identity {
  if (!force && fs.existsSync(file)) {
    throw new HashRelayError("KEY", `${file} already exists`, "pass --force to replace it (the old identity is lost)");
  }
  const identity = identityFromSeed(new Uint8Array(randomBytes(32)));
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, "w", 0o600);
  try {
    fs.fchmodSync(fd, 0o600);
    fs.writeSync(fd, formatSecretKeyFile(identity));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  return identity;
}

/** Loads an identity; throws KEY when the file is missing, unreadable, too open or malformed. */
export function loadKeyFile(file: string): Identity {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    throw new HashRelayError("KEY", `private key ${file} not found`, `create it with: hashrelay keygen --out ${file}`);
  }
  if ((stat.mode & 0o077) !== 0) {
    const mode = (stat.mode & 0o777).toString(8).padStart(4, "0");
    throw new HashRelayError("KEY", `private key ${file} is readable by group or others (mode ${mode})`, `chmod 600 ${file}`);
  }
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    throw new HashRelayError("KEY", `cannot read private key ${file}: ${(err as Error).message}`, "run as the key's owner", { cause: err });
  }
  return parseSecretKeyFile(text, file);
}
