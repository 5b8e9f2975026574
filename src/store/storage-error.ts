// File-system failures of server storage as HashRelayErrors: ENOSPC/EDQUOT become NO_SPACE, the rest STORAGE.
import { HashRelayError } from "../errors.ts";

/** Returns `err` unchanged when it is already a HashRelayError; otherwise wraps it, naming `what` failed. */
export function asStorageError(err: unknown, what: string): HashRelayError {
  if (err instanceof HashRelayError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const reason = err instanceof Error ? err.message : String(err);
  if (code === "ENOSPC" || code === "EDQUOT") {
    return new HashRelayError(
      "NO_SPACE",
      `${what}: the storage disk is full (${reason})`,
      "free space on the server's storage or lower retention.keep",
      { cause: err },
    );
  }
  return new HashRelayError("STORAGE", `${what}: ${reason}`, "check the server's storage folder (permissions, disk)", { cause: err });
}
