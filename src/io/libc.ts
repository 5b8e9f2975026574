// The C library through bun:ffi, for the few system calls Bun does not offer (sendto on a datagram socket, flock).
import { dlopen, read, type FFIFunction, type Library } from "bun:ffi";

/** glibc's name first, then musl's. */
const LIBC_NAMES = ["libc.so.6", "libc.so"];

/**
 * Binds `symbols` from the C library; null when none can be loaded (the caller falls back or does
 * without). Never throws.
 */
export function openLibc<Symbols extends Record<string, FFIFunction>>(symbols: Symbols): Library<Symbols> | null {
  for (const name of LIBC_NAMES) {
    try {
      return dlopen(name, symbols);
    } catch {
      // try the next name
    }
  }
  return null;
}

const ERRNO_SYMBOLS = { __errno_location: { args: [], returns: "ptr" } } as const satisfies Record<string, FFIFunction>;
let errnoLib: Library<typeof ERRNO_SYMBOLS> | null | undefined;

/** errno as the last C call on this thread left it; read it right after the call that failed (0 when unknown). */
export function lastErrno(): number {
  errnoLib ??= openLibc(ERRNO_SYMBOLS);
  const where = errnoLib?.symbols.__errno_location();
  return where ? read.i32(where, 0) : 0;
}
