// `hashrelay client --config FILE [--once] [--json]`: one tick, or ticks on the configured schedule until SIGTERM.
import { HashRelayError } from "../errors.ts";
import { nextRun } from "../config/schedule.ts";
import type { Config } from "../config/parse-config.ts";
import { runTick, type TickContext, type TickResult } from "../client/tick.ts";
import { ClientState } from "../client/state.ts";
import { ClientService } from "../client/service.ts";
import { clientRecordPath } from "../daemon/config-record.ts";
import type { ReloadPart } from "../daemon/reload.ts";
import { connectTcp } from "../io/framed-socket.ts";
import { loadKeyFile } from "../io/key-file.ts";
import { createLogger, parseLogFormat, type LoggerOptions } from "../io/log.ts";
import { createProgress } from "../client/progress.ts";
import { formatSize } from "../config/units.ts";
import { createNotifier } from "../io/sd-notify.ts";
import { ScheduleTimer } from "../io/schedule-timer.ts";
import { configPath, parseArgs } from "./args.ts";
import { startLiveConfig } from "../daemon/live-config.ts";
import { loadConfig, requireClient, type ClientConfig } from "../io/config-file.ts";
import { resolveServer } from "../client/command-session.ts";

const CONNECT_TIMEOUT_MS = 10_000;

/** What a tick needs for `config`; state and log are reused from `previous` when its state folder and name are the same. */
function tickContext(config: ClientConfig, previous?: TickContext, logOptions: LoggerOptions = {}): TickContext {
  const { client } = config;
  const reuse = previous && previous.config.client.state === client.state && previous.config.client.name === client.name;
  const state = reuse ? previous.state : new ClientState(client.state);
  state.init();
  const log = reuse ? previous.log : createLogger(state.logFile, { client: client.name }, logOptions);
  return {
    config,
    identity: loadKeyFile(client.key),
    log,
    state,
    connect: async () => {
      const { host, port } = await resolveServer(client);
      return connectTcp(host, port, CONNECT_TIMEOUT_MS);
    },
    now: () => new Date(),
  };
}

function printHuman(result: TickResult): void {
  const lines = [`server ${result.server}${result.reason ? ` (${result.reason})` : ""}`];
  for (const r of result.results) {
    const detail =
      r.status === "failed" || r.status === "skipped"
        ? (r.error ?? "")
        : `${r.archive}  ${r.chunksSent}/${r.chunksTotal} chunks sent, ${formatSize(r.bytesSent)}`;
    lines.push(`  ${r.name.padEnd(20)} ${r.status.padEnd(9)} ${detail}`);
  }
  process.stdout.write(lines.join("\n") + "\n");
}

export async function client(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ["--config", "--log-format"], flags: ["--once", "--json"] }, "client");
  const format = parseLogFormat(args.values.get("--log-format"));
  if (args.flags.has("--once")) {
    const config = requireClient(loadConfig(configPath(args)));
    // Progress goes to stderr (bars on a terminal, two lines per source otherwise; none beside JSON logs off a terminal).
    const tty = process.stderr.isTTY === true;
    const progress =
      format === "json" && !tty
        ? undefined
        : createProgress({ tty, write: (text) => void process.stderr.write(text), columns: process.stderr.columns || undefined });
    const ctx = { ...tickContext(config, undefined, { format, stderr: progress?.writeLine }), progress };
    const result = await runTick(ctx);
    if (args.flags.has("--json")) {
      const { server, results } = result;
      process.stdout.write(JSON.stringify({ server, results }) + "\n");
    } else {
      printHuman(result);
    }
    return result.exitCode;
  }

  // Daemon. The config is live: a file change or SIGHUP reloads it (src/daemon/reload.ts); start-up is the
  // first reload. A tick runs on the context it started with; a reload swaps the context for the next one
  // and re-arms the one schedule timer from now when the schedule changed. `every` schedules run a first
  // tick at start, cron schedules wait for their first time.
  const file = configPath(args);
  const timer = new ScheduleTimer();
  let current: TickContext | null = null;
  let due = 0;
  // systemd: READY=1 once started, STATUS= after each tick and reload, WATCHDOG=1 (src/client/service.ts).
  let service: ClientService | null = null;
  const part: ReloadPart = {
    name: "client",
    prepare: (next, diff, prev) => {
      const config = requireClient(next);
      const ctx = tickContext(config, current ?? undefined, { format });
      return {
        commit: () => {
          current = ctx;
          if (!prev || diff.client?.schedule) {
            const { schedule } = config.client;
            due = !prev && schedule.kind === "every" ? Date.now() : nextRun(schedule, Date.now());
            if (prev) ctx.log.log("info", `schedule re-armed (${config.client.scheduleText}); next tick ${new Date(due).toISOString()}`);
            timer.wake();
          }
          service?.configApplied(config, due, ctx.state);
        },
      };
    },
  };
  const startLog = createLogger(undefined);
  const live = await startLiveConfig(file, {
    parts: [part],
    log: () => current?.log ?? startLog,
    recordPath: (inForce) => (inForce.client ? clientRecordPath(inForce.client.state) : null),
  });
  const ctxNow = (): TickContext => current!;
  service = new ClientService(ctxNow().state, createNotifier(), ctxNow().config);

  let stopping = false;
  const stop = () => {
    stopping = true;
    service?.stopping();
    ctxNow().log.log("info", "stopping after the current tick");
    timer.wake();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  ctxNow().log.log("info", `client started (${ctxNow().config.client.scheduleText}); first tick ${new Date(due).toISOString()}`);
  service.started(due);
  while (!stopping) {
    if (due > Date.now()) {
      await timer.sleepUntil(due);
      continue;
    }
    const ctx = ctxNow();
    service.tickStarted();
    const result = await runTick(ctx);
    due = nextRun(ctxNow().config.client.schedule, Date.now());
    service.tickDone(due);
    const counts = result.results.reduce<Record<string, number>>((acc, r) => ((acc[r.status] = (acc[r.status] ?? 0) + 1), acc), {});
    ctx.log.log(
      "info",
      `tick done: ${
        Object.entries(counts)
          .map(([k, v]) => `${v} ${k}`)
          .join(", ") || "no sources"
      }; next ${new Date(due).toISOString()}`,
    );
  }
  live.close();
  await service.flushed();
  return 0;
}
