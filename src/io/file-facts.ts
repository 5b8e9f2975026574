// FileFacts over the real file system: what parseConfig needs to know about private key files.
import { closeSync, constants, openSync, statSync } from "node:fs";
import type { FileFacts, KeyFileFact } from "../config/model.ts";

/** stat + a read-only open as the current process (capabilities included); never throws. */
export const realFileFacts: FileFacts = {
  statKeyFile(absPath: string): KeyFileFact {
    let mode: number;
    try {
      mode = statSync(absPath).mode;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return { kind: "missing" };
      return { kind: "unreadable", reason: describeErrno(err) };
    }
    // open, not access(2): access checks with the real uid and no capabilities (CAP_DAC_READ_SEARCH of the client service).
    try {
      closeSync(openSync(absPath, constants.O_RDONLY | constants.O_NONBLOCK));
    } catch (err) {
      return { kind: "unreadable", reason: describeErrno(err) };
    }
    return { kind: "ok", mode };
  },
};

function describeErrno(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const words: Record<string, string> = {
    EACCES: "permission denied",
    EPERM: "operation not permitted",
    ELOOP: "too many symbolic links",
    ENOTDIR: "a part of the path is not a folder",
    ENAMETOOLONG: "the path is too long",
  };
  return (e.code && words[e.code]) ?? e.code ?? (err instanceof Error ? err.message : String(err));
}
