// `hashrelay client` without --once: ticks on the configured schedule until SIGTERM, on a live config.
//
// A file change or SIGHUP reloads the config (src/daemon/reload.ts); start-up is the first reload. A tick
// runs on the context it started with; a reload swaps the context for the next one and re-arms the one
// schedule timer from now when the schedule changed. `every` schedules run a first tick at start, cron
// schedules wait for their first time.
import { nextRun } from "../config/schedule.ts";
import { runTick, type TickContext, type TickResult } from "./tick.ts";
import { ClientService } from "./service.ts";
import { clientRecordPath } from "../daemon/config-record.ts";
import { startLiveConfig } from "../daemon/live-config.ts";
import type { ReloadPart } from "../daemon/reload.ts";
import { requireClient } from "../io/config-file.ts";
import { createLogger, parseLogFormat, type LogFormat } from "../io/log.ts";
import { ScheduleTimer } from "../io/schedule-timer.ts";
import { createNotifier } from "../io/sd-notify.ts";
import { tickContext } from "./tick-context.ts";

/** Runs until SIGTERM or SIGINT, then finishes the tick in flight; exit 0. Throws what the first reload throws (USAGE, CONFIG). */
export async function runDaemon(request: { configFile: string; logFormat: string | undefined }): Promise<number> {
  return new ClientDaemon(parseLogFormat(request.logFormat)).run(request.configFile);
}

class ClientDaemon {
  /** The context the next tick runs on (set by the first reload, before run goes on). */
  private current: TickContext | null = null;
  /** When the next tick is due (ms since the epoch). */
  private due = 0;
  private readonly timer = new ScheduleTimer();
  /** systemd: READY=1 once started, STATUS= after each tick and reload, WATCHDOG=1 (src/client/service.ts). */
  private service: ClientService | null = null;
  private stopping = false;

  constructor(private readonly format: LogFormat) {}

  private get ctx(): TickContext {
    return this.current!;
  }

  /** The reload part: a valid config builds the next tick context; commit swaps it in and re-arms the timer if the schedule changed. */
  private readonly part: ReloadPart = {
    name: "client",
    prepare: (next, diff, prev) => {
      const config = requireClient(next);
      const ctx = tickContext(config, this.current ?? undefined, { format: this.format });
      return {
        commit: () => {
          this.current = ctx;
          if (!prev || diff.client?.schedule) {
            const { schedule } = config.client;
            this.due = !prev && schedule.kind === "every" ? Date.now() : nextRun(schedule, Date.now());
            if (prev)
              ctx.log.log("info", `schedule re-armed (${config.client.scheduleText}); next tick ${new Date(this.due).toISOString()}`);
            this.timer.wake();
          }
          this.service?.configApplied(config, this.due, ctx.state);
        },
      };
    },
  };

  async run(file: string): Promise<number> {
    const startLog = createLogger(undefined);
    const live = await startLiveConfig(file, {
      parts: [this.part],
      log: () => this.current?.log ?? startLog,
      recordPath: (inForce) => (inForce.client ? clientRecordPath(inForce.client.state) : null),
    });
    const service = new ClientService(this.ctx.state, createNotifier(), this.ctx.config);
    this.service = service;
    process.on("SIGTERM", () => this.stop());
    process.on("SIGINT", () => this.stop());
    this.ctx.log.log("info", `client started (${this.ctx.config.client.scheduleText}); first tick ${new Date(this.due).toISOString()}`);
    service.started(this.due);
    await this.tickOnSchedule(service);
    live.close();
    await service.flushed();
    return 0;
  }

  private stop(): void {
    this.stopping = true;
    this.service?.stopping();
    this.ctx.log.log("info", "stopping after the current tick");
    this.timer.wake();
  }

  /** Sleeps until the next tick is due (a reload or stop wakes it), runs it, plans the next one; until stopped. */
  private async tickOnSchedule(service: ClientService): Promise<void> {
    while (!this.stopping) {
      if (this.due > Date.now()) {
        await this.timer.sleepUntil(this.due);
        continue;
      }
      const ctx = this.ctx;
      service.tickStarted();
      const result = await runTick(ctx);
      this.due = nextRun(this.ctx.config.client.schedule, Date.now());
      service.tickDone(this.due);
      ctx.log.log("info", tickDoneMessage(result, this.due));
    }
  }
}

/** "tick done: 3 sent, 2 unchanged; next 2026-11-26T12:30:00.000Z" (counts in the order the results first show each status). */
function tickDoneMessage(result: TickResult, due: number): string {
  const counts = result.results.reduce<Record<string, number>>((acc, r) => ((acc[r.status] = (acc[r.status] ?? 0) + 1), acc), {});
  const summary =
    Object.entries(counts)
      .map(([k, v]) => `${v} ${k}`)
      .join(", ") || "no sources";
  return `tick done: ${summary}; next ${new Date(due).toISOString()}`;
}
