// `hashrelay client --config FILE [--once] [--json]`: one tick, or ticks on the configured schedule until SIGTERM.
import { HashRelayError } from "../errors.ts";
import { nextRun } from "../config/schedule.ts";
import type { Config } from "../config/parse-config.ts";
import { runTick, type TickContext, type TickResult } from "../agent/client-tick.ts";
import { ClientState } from "../agent/client-state.ts";
import { ClientService } from "../agent/client-service.ts";
import { connectTcp } from "../io/framed-socket.ts";
import { loadKeyFile } from "../io/key-file.ts";
import { createLogger, parseLogFormat, type LoggerOptions } from "../io/log.ts";
import { createProgress } from "../io/progress.ts";
import { createNotifier } from "../io/sd-notify.ts";
import { configPath, parseArgs } from "./args.ts";
import { loadConfig } from "./load-config.ts";

const CONNECT_TIMEOUT_MS = 10_000;

type ClientConfig = Config & { client: NonNullable<Config["client"]> };

export function requireClient(config: Config): ClientConfig {
  if (!config.client) throw new HashRelayError("CONFIG", `${config.file}: no client section`, "add a client: section (see hashrelay.example.yaml)");
  return config as ClientConfig;
}

function tickContext(config: ClientConfig, logOptions: LoggerOptions = {}): TickContext {
  const { client } = config;
  const state = new ClientState(client.state);
  state.init();
  const log = createLogger(state.logFile, { client: client.name }, logOptions);
  return {
    config,
    identity: loadKeyFile(client.key),
    log,
    state,
    connect: () => connectTcp(client.server.host, client.server.port, CONNECT_TIMEOUT_MS),
    now: () => new Date(),
  };
}

function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

function printHuman(result: TickResult): void {
  const lines = [`server ${result.server}${result.reason ? ` (${result.reason})` : ""}`];
  for (const r of result.results) {
    const detail = r.status === "failed" || r.status === "skipped" ? (r.error ?? "") : `${r.archive}  ${r.chunksSent}/${r.chunksTotal} chunks sent, ${formatBytes(r.bytesSent)}`;
    lines.push(`  ${r.name.padEnd(20)} ${r.status.padEnd(9)} ${detail}`);
  }
  process.stdout.write(lines.join("\n") + "\n");
}

export async function client(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ["--config", "--log-format"], flags: ["--once", "--json"] }, "client");
  const format = parseLogFormat(args.values.get("--log-format"));
  const config = requireClient(loadConfig(configPath(args)));

  if (args.flags.has("--once")) {
    // Progress goes to stderr (bars on a terminal, two lines per source otherwise; none beside JSON logs off a terminal).
    const tty = process.stderr.isTTY === true;
    const progress = format === "json" && !tty ? undefined : createProgress({ tty, write: (text) => void process.stderr.write(text), columns: process.stderr.columns || undefined });
    const ctx = { ...tickContext(config, { format, stderr: progress?.writeLine }), progress };
    const result = await runTick(ctx);
    if (args.flags.has("--json")) {
      const { server, results } = result;
      process.stdout.write(JSON.stringify({ server, results }) + "\n");
    } else {
      printHuman(result);
    }
    return result.exitCode;
  }

  // Daemon: `every` schedules run a first tick at start, cron schedules wait for their first time.
  const ctx = tickContext(config, { format });
  const service = new ClientService(ctx.state, createNotifier(), config);
  let stopping = false;
  let wake: (() => void) | null = null;
  const stop = () => {
    stopping = true;
    service.stopping();
    ctx.log.log("info", "stopping after the current tick");
    wake?.();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  const { schedule } = config.client;
  let due = schedule.kind === "every" ? Date.now() : nextRun(schedule, Date.now());
  ctx.log.log("info", `client started (${config.client.scheduleText}); first tick ${new Date(due).toISOString()}`);
  service.started(due);
  while (!stopping) {
    const wait = due - Date.now();
    if (wait > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(wait, 2 ** 31 - 1));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = null;
      continue;
    }
    service.tickStarted();
    const result = await runTick(ctx);
    due = nextRun(schedule, Date.now());
    service.tickDone(due);
    const counts = result.results.reduce<Record<string, number>>((acc, r) => ((acc[r.status] = (acc[r.status] ?? 0) + 1), acc), {});
    ctx.log.log("info", `tick done: ${Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(", ") || "no sources"}; next ${new Date(due).toISOString()}`);
  }
  await service.flushed();
  return 0;
}
