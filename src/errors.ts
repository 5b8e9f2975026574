// One error taxonomy for the whole program: a stable code, the exit code it maps to, and a hint.

/** Stable codes. Wire codes travel in error frames; the others stay local. */
export type WireErrorCode =
  | "UNAUTHORIZED"
  | "TOO_LARGE"
  | "BAD_FRAME"
  | "HASH_MISMATCH"
  | "NO_SPACE"
  | "QUOTA" // the client's server.clients[].quota is used up
  | "BUSY"
  | "VERSION";

export type LocalErrorCode =
  | "USAGE" // bad command line
  | "CONFIG" // config file invalid
  | "KEY" // key file missing, malformed or too open
  | "SOURCE" // one source could not be archived
  | "SERVER_DOWN" // probe failed: refused, timeout
  | "TIMEOUT" // a peer was silent too long
  | "CLOSED" // the peer closed the connection
  | "STORAGE" // server storage failure
  | "INTERNAL";

export type ErrorCode = WireErrorCode | LocalErrorCode;

export const WIRE_ERROR_CODES: readonly WireErrorCode[] = [
  "UNAUTHORIZED",
  "TOO_LARGE",
  "BAD_FRAME",
  "HASH_MISMATCH",
  "NO_SPACE",
  "QUOTA",
  "BUSY",
  "VERSION",
];

/** Exit codes documented in README: 0 ok, 1 a source failed, 2 usage/config, 3 server down, 4 auth refused. */
export const EXIT = { OK: 0, SOURCE_FAILED: 1, USAGE: 2, SERVER_DOWN: 3, UNAUTHORIZED: 4 } as const;

const exitByCode: Record<ErrorCode, number> = {
  USAGE: EXIT.USAGE,
  CONFIG: EXIT.USAGE,
  KEY: EXIT.USAGE,
  SOURCE: EXIT.SOURCE_FAILED,
  SERVER_DOWN: EXIT.SERVER_DOWN,
  TIMEOUT: EXIT.SERVER_DOWN,
  CLOSED: EXIT.SERVER_DOWN,
  UNAUTHORIZED: EXIT.UNAUTHORIZED,
  VERSION: EXIT.UNAUTHORIZED,
  TOO_LARGE: EXIT.SOURCE_FAILED,
  BAD_FRAME: EXIT.SOURCE_FAILED,
  HASH_MISMATCH: EXIT.SOURCE_FAILED,
  NO_SPACE: EXIT.SOURCE_FAILED,
  QUOTA: EXIT.SOURCE_FAILED,
  BUSY: EXIT.SERVER_DOWN,
  STORAGE: EXIT.SOURCE_FAILED,
  INTERNAL: EXIT.SOURCE_FAILED,
};

export class HashRelayError extends Error {
  readonly code: ErrorCode;
  readonly hint: string;

  constructor(code: ErrorCode, message: string, hint = "", options?: { cause?: unknown }) {
    super(message, options);
    this.name = "HashRelayError";
    this.code = code;
    this.hint = hint;
  }

  get exitCode(): number {
    return exitByCode[this.code];
  }

  /** "message (hint)" for one-line logs and terminals. */
  describe(): string {
    return this.hint ? `${this.message} (${this.hint})` : this.message;
  }
}

export function isWireErrorCode(code: string): code is WireErrorCode {
  return (WIRE_ERROR_CODES as readonly string[]).includes(code);
}

/** Wraps anything thrown into a HashRelayError, keeping the original as cause. */
export function asHashRelayError(err: unknown, fallback: ErrorCode = "INTERNAL"): HashRelayError {
  if (err instanceof HashRelayError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new HashRelayError(fallback, message, "", { cause: err });
}
