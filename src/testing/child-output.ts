// Test-only: a child process's stdout, gathered, with a promise for the moment it first prints a given text.
import type { ChildProcess } from "node:child_process";

export interface ChildOutput {
  /** Everything the child printed on stdout so far. */
  text(): string;
  /** Resolves once stdout holds `marker`; rejects when the child exits first or after `timeoutMs`. */
  printed(marker: string, timeoutMs: number): Promise<void>;
}

/** Gathers `child`'s stdout (it must be a pipe) from now on. */
export function childOutput(child: ChildProcess): ChildOutput {
  let out = "";
  const listeners = new Set<() => void>();
  child.stdout!.on("data", (d: Buffer) => {
    out += d.toString();
    for (const listener of listeners) listener();
  });
  child.once("exit", () => {
    for (const listener of listeners) listener();
  });
  return {
    text: () => out,
    printed: (marker, timeoutMs) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => settle(new Error(`no "${marker}" within ${timeoutMs} ms: ${out.slice(-300)}`)), timeoutMs);
        const check = () => {
          if (out.includes(marker)) settle(null);
          else if (child.exitCode !== null || child.signalCode !== null)
            settle(new Error(`exited (${child.exitCode ?? child.signalCode}) before printing "${marker}": ${out.slice(-300)}`));
        };
        const settle = (err: Error | null) => {
          clearTimeout(timer);
          listeners.delete(check);
          if (err) reject(err);
          else resolve();
        };
        listeners.add(check);
        check();
      }),
  };
}
