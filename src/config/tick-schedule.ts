// When a client's scheduled ticks fall: its schedule on the wall clock of its time zone, shifted by its fixed splay offset.
import { createHash } from "node:crypto";
import { formatDuration } from "./units.ts";
import type { ClientConfig } from "./model.ts";
import { nextRun, type Schedule } from "./schedule.ts";

export interface TickSchedule {
  schedule: Schedule;
  /** The IANA zone the cron fields are read in: client.timezone, else the machine's. */
  zone: string;
  /** Whether `zone` is the machine's (no client.timezone). */
  zoneIsMachine: boolean;
  /** client.splay (0: none). */
  splayMs: number;
  /** This client's fixed delay after each scheduled time, in [0, splayMs): the same at every start. */
  offsetMs: number;
}

/** The client's tick schedule; `machineZone` is the zone the I/O layer reads from the machine, used when client.timezone is absent. */
export function tickSchedule(
  client: Pick<ClientConfig, "schedule" | "timezone" | "splayMs" | "name" | "serverKeyText">,
  machineZone: string,
): TickSchedule {
  return {
    schedule: client.schedule,
    zone: client.timezone ?? machineZone,
    zoneIsMachine: client.timezone === null,
    splayMs: client.splayMs,
    offsetMs: splayOffsetMs(client.splayMs, client.name, client.serverKeyText),
  };
}

/**
 * A whole number of seconds in [0, splayMs), fixed by the client's name and the server's key (like
 * systemd's RandomizedDelaySec with FixedRandomDelay): clients of one server, whose names differ,
 * spread evenly over the splay, and a client keeps its offset across restarts. 0 when splayMs < 1 s.
 */
export function splayOffsetMs(splayMs: number, clientName: string, serverKeyText: string): number {
  const seconds = Math.floor(splayMs / 1000);
  if (seconds < 1) return 0;
  const digest = createHash("sha256").update(`hashrelay splay\0${clientName}\0${serverKeyText}`).digest();
  return Math.floor((digest.readUIntBE(0, 6) / 2 ** 48) * seconds) * 1000;
}

/**
 * The first scheduled tick strictly after `afterMs`: each time the schedule gives, plus the offset.
 * The whole schedule is shifted, so no scheduled time is skipped whatever the offset.
 */
export function nextScheduledTick(ts: TickSchedule, afterMs: number): number {
  return nextRun(ts.schedule, afterMs - ts.offsetMs, ts.zone) + ts.offsetMs;
}

/** The first tick of a daemon started at `nowMs`: an `every` schedule ticks at once (plus the offset), a cron schedule at its next time. */
export function firstScheduledTick(ts: TickSchedule, nowMs: number): number {
  return ts.schedule.kind === "every" ? nowMs + ts.offsetMs : nextScheduledTick(ts, nowMs);
}

/** "0 3 * * * in Europe/Paris, splay 15m (this client +7m12s)", for logs and status. */
export function describeTickSchedule(ts: TickSchedule, scheduleText: string): string {
  const zone = ts.schedule.kind === "cron" ? ` in ${ts.zone}${ts.zoneIsMachine ? " (the machine's zone)" : ""}` : "";
  const splay = ts.splayMs > 0 ? `, splay ${formatDuration(ts.splayMs)} (this client +${formatOffset(ts.offsetMs)})` : "";
  return `${scheduleText}${zone}${splay}`;
}

/** 432000 → "7m12s"; 0 → "0s". */
function formatOffset(ms: number): string {
  const total = Math.round(ms / 1000);
  const [h, m, s] = [Math.floor(total / 3600), Math.floor((total % 3600) / 60), total % 60];
  return `${h ? `${h}h` : ""}${m ? `${m}m` : ""}${s || total === 0 ? `${s}s` : ""}`;
}
