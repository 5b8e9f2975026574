// Sharing blocks between two files of one file system (ioctl FICLONERANGE through bun:ffi): a copy that writes no data.
import type { Library } from "bun:ffi";
import { lastErrno, openLibc } from "./libc.ts";

/** _IOW(0x94, 13, struct file_clone_range): the same number on every Linux architecture. */
const FICLONERANGE = 0x4020940d;
const IOCTL_SYMBOLS = { ioctl: { args: ["i32", "u64", "buffer"], returns: "i32" } } as const;
let libc: Library<typeof IOCTL_SYMBOLS> | null | undefined;

/** errno values a clone may end with, by name (Linux numbers, the same on x86-64 and arm64). */
const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  4: "EINTR",
  5: "EIO",
  9: "EBADF",
  11: "EAGAIN",
  18: "EXDEV",
  21: "EISDIR",
  22: "EINVAL",
  25: "ENOTTY",
  26: "ETXTBSY",
  28: "ENOSPC",
  38: "ENOSYS",
  95: "EOPNOTSUPP",
};

/** The errno's name ("EXDEV"), or "errno N". */
export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `errno ${errno}`;
}

/** "ENOSYS": what cloneRange answers when no C library can be loaded. */
export const NO_LIBC = 38;

/**
 * Makes bytes [destOffset, destOffset + length) of the file open as `destFd` share the blocks of bytes
 * [srcOffset, srcOffset + length) of `srcFd` (FICLONERANGE): no data is written, and later writes to
 * either file leave the other as it is. Offsets and length must be multiples of the file system's block
 * (XFS and btrfs refuse anything else with EINVAL). Returns 0 when done, else the errno: EOPNOTSUPP or
 * ENOTTY (the file system cannot), EXDEV (two file systems), EINVAL, EAGAIN (ZFS: blocks not yet on
 * disk), ENOSPC... Nothing is changed when it fails. Blocks the thread for the call (metadata only:
 * about a millisecond for tens of MiB). Never throws.
 */
export function cloneRange(srcFd: number, srcOffset: number, length: number, destFd: number, destOffset: number): number {
  libc ??= openLibc(IOCTL_SYMBOLS);
  if (!libc) return NO_LIBC;
  const args = new BigUint64Array([BigInt(srcFd), BigInt(srcOffset), BigInt(length), BigInt(destOffset)]);
  for (;;) {
    if (libc.symbols.ioctl(destFd, FICLONERANGE, args) === 0) return 0;
    const errno = lastErrno();
    if (errno !== 4) return errno === 0 ? 22 : errno;
  }
}
