// `hashrelay client` without --once: ticks on the configured schedule until SIGTERM, on a live config.
//
// A file change or SIGHUP reloads the config (src/daemon/reload.ts); start-up is the first reload. A tick
// runs on the context it started with; a reload swaps the context for the next one and re-arms the one
// schedule timer when the schedule changed. When the plan says (client/tick-plan.ts): `every` schedules
// tick at start, cron schedules at their first time in their zone, both late by the client's fixed splay
// offset (config/tick-schedule.ts); a server found down is retried with backoff until
// the scheduled tick; SIGUSR1 (`hashrelay backup-now`) asks for a tick now. Each tick holds the state
// folder's lock (client/tick-lock.ts); a tick another process records there updates STATUS= too.
import { describeTickSchedule, nextScheduledTick, tickSchedule, type TickSchedule } from "../config/tick-schedule.ts";
import { runTick, type TickContext, type TickResult } from "./tick.ts";
import { ClientService, TICK_NOW_SIGNAL, type PlannedTicks } from "./service.ts";
import { clientRecordPath } from "../daemon/config-record.ts";
import { startLiveConfig } from "../daemon/live-config.ts";
import type { ReloadPart } from "../daemon/reload.ts";
import { requireClient } from "../io/config-file.ts";
import { watchFile, type FileWatch } from "../io/file-watch.ts";
import { createLogger, parseLogFormat, type LogFormat } from "../io/log.ts";
import { localTimeZone } from "../io/local-time-zone.ts";
import { ScheduleTimer } from "../io/schedule-timer.ts";
import { createNotifier } from "../io/sd-notify.ts";
import type { ClientState } from "./state.ts";
import { tickContext } from "./tick-context.ts";
import { lockForTick } from "./tick-lock.ts";
import {
  afterTick,
  dueAt,
  firstPlan,
  rescheduled,
  serverSeenUp,
  tickStarted,
  triggerAt,
  type TickPlan,
  type TickTrigger,
} from "./tick-plan.ts";

/** Runs until SIGTERM or SIGINT, then finishes the tick in flight; exit 0. Throws what the first reload throws (USAGE, CONFIG). */
export async function runDaemon(request: { configFile: string; logFormat: string | undefined }): Promise<number> {
  return new ClientDaemon(parseLogFormat(request.logFormat), retryBaseFrom(process.env)).run(request.configFile);
}

/**
 * The first retry's delay: one minute, or $HASHRELAY_RETRY_BASE_MS (a positive whole number of
 * milliseconds; tests make it short, an admin may make it longer).
 */
function retryBaseFrom(env: NodeJS.ProcessEnv): number {
  const value = Number(env.HASHRELAY_RETRY_BASE_MS);
  return Number.isInteger(value) && value > 0 ? value : 60_000;
}

class ClientDaemon {
  /** The context the next tick runs on (set by the first reload, before run goes on). */
  private current: TickContext | null = null;
  /** When the next ticks are due (set by the first reload). */
  private plan: TickPlan = { scheduled: 0, retry: null, downStreak: 0, requested: false };
  /** When scheduled ticks fall (set by the first reload): the schedule in its zone, and this client's splay offset. */
  private schedule: TickSchedule | null = null;
  private readonly timer = new ScheduleTimer();
  /** systemd: READY=1 once started, STATUS= after each tick and reload, WATCHDOG=1 (src/client/service.ts). */
  private service: ClientService | null = null;
  /** Watches state/status.json for ticks recorded by other processes. */
  private tickWatch: FileWatch | null = null;
  private readonly stopped = new AbortController();

  constructor(
    private readonly format: LogFormat,
    private readonly retryBaseMs: number,
  ) {}

  private get ctx(): TickContext {
    return this.current!;
  }

  private get planned(): PlannedTicks {
    return { next: this.plan.scheduled, retry: this.plan.retry };
  }

  /** The reload part: a valid config builds the next tick context; commit swaps it in and re-arms the timer if the schedule changed. */
  private readonly part: ReloadPart = {
    name: "client",
    prepare: (next, diff, prev) => {
      const config = requireClient(next);
      const ctx = tickContext(config, this.current ?? undefined, { format: this.format });
      return {
        commit: () => {
          const stateMoved = this.current?.state !== ctx.state;
          this.current = ctx;
          const schedule = tickSchedule(config.client, localTimeZone());
          // The name and server key fix the splay offset: a change of either may move the ticks too.
          if (!prev || JSON.stringify(schedule) !== JSON.stringify(this.schedule)) {
            this.plan = prev ? rescheduled(this.plan, nextScheduledTick(schedule, Date.now())) : firstPlan(schedule, Date.now());
            this.schedule = schedule;
            if (prev)
              ctx.log.log(
                "info",
                `schedule re-armed (${describeTickSchedule(schedule, config.client.scheduleText)}); next tick ${new Date(this.plan.scheduled).toISOString()}`,
              );
            this.timer.wake();
          }
          if (stateMoved && this.service) this.watchTicks(ctx.state);
          this.service?.configApplied(config, this.planned, ctx.state);
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
    // Before daemon.json names this pid: backup-now must never signal a daemon without the handler.
    process.on(TICK_NOW_SIGNAL, () => this.tickRequested());
    this.watchTicks(this.ctx.state);
    this.ctx.log.log(
      "info",
      `client started (${describeTickSchedule(this.schedule!, this.ctx.config.client.scheduleText)}); first tick ${new Date(dueAt(this.plan)).toISOString()}`,
    );
    service.started(this.planned);
    await this.tickOnSchedule(service);
    this.tickWatch?.close();
    live.close();
    await service.flushed();
    return 0;
  }

  private stop(): void {
    this.stopped.abort();
    this.service?.stopping();
    this.ctx.log.log("info", "stopping after the current tick");
    this.timer.wake();
  }

  private tickRequested(): void {
    if (this.stopped.signal.aborted) return;
    this.plan = { ...this.plan, requested: true };
    this.ctx.log.log("info", `a tick was asked for (${TICK_NOW_SIGNAL}, hashrelay backup-now)`);
    this.timer.wake();
  }

  /** Re-sends STATUS= when state/status.json changes; a tick another process found the server Up in ends the backoff. */
  private watchTicks(state: ClientState): void {
    this.tickWatch?.close();
    this.tickWatch = watchFile(state.tickFile, () => {
      const last = state.lastTick();
      if (last && last.pid !== process.pid && last.server === "up" && this.plan.retry !== null) {
        this.plan = serverSeenUp(this.plan);
        this.ctx.log.log("info", `the tick of pid ${last.pid} found the server Up: no retry needed`);
        this.timer.wake();
        this.service?.replanned(this.planned);
      }
      this.service?.refresh();
    });
  }

  /** Sleeps until the next tick is due (a reload, request or stop wakes it), runs it, plans the next one; until stopped. */
  private async tickOnSchedule(service: ClientService): Promise<void> {
    while (!this.stopped.signal.aborted) {
      const trigger = triggerAt(this.plan, Date.now());
      if (trigger) await this.tick(service, trigger);
      else await this.timer.sleepUntil(dueAt(this.plan));
    }
  }

  /** One tick under the state folder's lock (waiting while another process ticks), then the plan after it. */
  private async tick(service: ClientService, trigger: TickTrigger): Promise<void> {
    const ctx = this.ctx;
    const lock = await lockForTick(ctx.state.dir, ctx.log, this.stopped.signal);
    if (!lock) return; // stopping
    let result: TickResult;
    try {
      this.plan = tickStarted(this.plan);
      service.tickStarted();
      if (trigger === "retry") ctx.log.log("info", `retrying: the server was down (retry ${this.plan.downStreak})`);
      // A wait for a busy server ends with the daemon; STATUS= says it waits.
      result = await runTick({ ...ctx, signal: this.stopped.signal, onBusy: (retryAt, since) => service.waiting(retryAt, since) });
    } finally {
      lock.release();
    }
    const backoff = { baseMs: this.retryBaseMs, random: Math.random() };
    this.plan = afterTick(this.plan, trigger, result, Date.now(), this.schedule!, backoff);
    service.tickDone(this.planned);
    ctx.log.log("info", tickDoneMessage(result, this.plan));
  }
}

/** "tick done: 3 sent, 2 unchanged; next 2026-11-26T12:30:00.000Z", with the retry when one is planned. */
function tickDoneMessage(result: TickResult, plan: TickPlan): string {
  const counts = result.results.reduce<Record<string, number>>((acc, r) => ((acc[r.status] = (acc[r.status] ?? 0) + 1), acc), {});
  const summary =
    Object.entries(counts)
      .map(([k, v]) => `${v} ${k}`)
      .join(", ") || "no sources";
  const retry = plan.retry === null ? "" : `; retry ${new Date(plan.retry).toISOString()} (server down)`;
  return `tick done: ${summary}${retry}; next ${new Date(plan.scheduled).toISOString()}`;
}
