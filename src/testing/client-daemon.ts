// Test helper: `hashrelay client` as a daemon process, with its log and waits on it.
import { spawn, type ChildProcess } from "node:child_process";
import { ensureBinary, type World } from "./e2e-harness.ts";

export interface ClientDaemon {
  child: ChildProcess;
  log(): string;
  /** Waits until `re` matched `count` times in the log (counting from the start). */
  waitFor(re: RegExp, count?: number, timeoutMs?: number): Promise<void>;
  count(re: RegExp): number;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

/** Starts `hashrelay client --config <world.clientConfig>` (the daemon, not --once); `env` adds to the environment. */
export function startClient(world: World, opts: { env?: Record<string, string> } = {}): ClientDaemon {
  const child = spawn(ensureBinary(), ["client", "--config", world.clientConfig], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, ...opts.env },
  });
  let log = "";
  child.stderr!.on("data", (d: Buffer) => (log += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const count = (re: RegExp) => (log.match(new RegExp(re.source, "g")) ?? []).length;
  return {
    child,
    log: () => log,
    count,
    waitFor: async (re, n = 1, timeoutMs = 15_000) => {
      const deadline = Date.now() + timeoutMs;
      while (count(re) < n) {
        if (child.exitCode !== null) throw new Error(`client exited (${child.exitCode}):\n${log}`);
        if (Date.now() > deadline) throw new Error(`never saw ${n} x ${re}:\n${log}`);
        await Bun.sleep(25);
      }
    },
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGTERM");
      return exited;
    },
  };
}
