// The server process's allocator told to keep the memory it frees for its next allocations, not hand it back to the kernel.
/** mimalloc's setting (Bun's allocator): how long freed memory stays mapped before it goes back to the kernel; -1: never. */
export const PURGE_DELAY_VARIABLE = "MIMALLOC_PURGE_DELAY";

/**
 * Replaces this process (same pid, arguments and environment) by itself with PURGE_DELAY_VARIABLE set to
 * -1, when it runs as the built binary and the variable is unset. Returns otherwise (an admin's own value,
 * run from source, already re-executed) and when the exec fails: the server then runs as before. Never throws.
 *
 * Why: a backup frees and allocates ~100 KiB buffers by the thousand (inflated chunks, rebuilt chunks,
 * frames). mimalloc hands freed pages back after 10 ms (madvise, a TLB flush on every core), and the next
 * allocation faults them in again, zeroed: on the bench's virtual machine that was ~0.3 s of the server's
 * ~2.2 s of CPU in C at scale 1 (sys 0.78 -> 0.59 s). The cost: the daemon's resident size stays at the
 * peak of its busiest backup instead of shrinking between backups (docs/operations.md).
 */
export function keepFreedMemory(): void {
  if (process.env[PURGE_DELAY_VARIABLE] !== undefined || !Bun.main.startsWith("/$bunfs/") || !process.execve) return;
  try {
    process.execve(process.execPath, [process.execPath, ...process.argv.slice(2)], { ...process.env, [PURGE_DELAY_VARIABLE]: "-1" });
  } catch {
    // only speed is lost: the allocator keeps its default
  }
}
