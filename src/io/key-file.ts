// Private key files on disk: created 0600, refused when group or others can read them (as ssh does).
import fs from "node:fs";
import { randomBytes } from "node:crypto";
import { HashRelayError } from "../errors.ts";
import { readOwnerOnlyFile } from "./owner-only-file.ts";
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
  const text = readOwnerOnlyFile(file, {
    what: "private key",
    createHint: `create it with: hashrelay keygen --out ${file}`,
    readHint: "run as the key's owner",
  });
  return parseSecretKeyFile(text, file);
}
