// Pure: the one-line STATUS= text `systemctl status` shows for the client and for the server, and the times `hashrelay status` prints.
import { wallClock } from "../config/time-zone.ts";
import { formatSize } from "../config/units.ts";

/** Why the client last found the server down (client/server-availability.ts decides). */
export type DownKind = "refused" | "timeout" | "unauthorized" | "unreachable" | "closed" | "busy" | "error";

/** What the client's line is made of: the last tick as recorded in state/status.json. */
export interface ClientTickSummary {
  at: string;
  server: "up" | "down";
  since?: string;
  kind?: DownKind;
  results: { status: string }[];
}

export interface ServerSummary {
  clients: number;
  /** Authenticated sessions open now. */
  connected: number;
  /** Listed clients told BUSY that hold a place for the next free session slot (server/slot-queue.ts). */
  waiting?: number;
  lastArchive: { storedAt: string; client: string; name: string } | null;
  freeBytes: number | null;
}

/** "12:03" for a time today (local time, as systemctl prints), else "2026-11-25 12:03". */
export function clockTime(at: string | Date, now: Date): string {
  const d = typeof at === "string" ? new Date(at) : at;
  const hm = `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
  const sameDay = d.getFullYear() === now.getFullYear() && d.getMonth() === now.getMonth() && d.getDate() === now.getDate();
  if (sameDay) return hm;
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")} ${hm}`;
}

/** clockTime with seconds: "03:00:14" (a wait at a busy server lasts seconds). */
function clockSeconds(at: Date, now: Date): string {
  return `${clockTime(at, now)}:${String(at.getSeconds()).padStart(2, "0")}`;
}

/** "2026-11-26 12:03:10" in local time, or "2026-11-26 03:07:12 Europe/Paris" in `zone`, and "(5 min ago)" / "(in 2 h)" beside it. */
export function when(iso: string, now: Date, zone?: string): string {
  const d = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, "0");
  const stamp =
    zone !== undefined
      ? `${wallClock(d.getTime(), zone)} ${zone}`
      : `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  const delta = Math.round((d.getTime() - now.getTime()) / 1000);
  return `${stamp} (${delta < 0 ? `${formatAge(-delta)} ago` : delta === 0 ? "now" : `in ${formatAge(delta)}`})`;
}

/** "42 s", "5 min", "3 h", "2 d". */
export function formatAge(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 2 * 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 2 * 86400) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} d`;
}

/** "3 sent, 2 unchanged" in a fixed order; "no sources" when there is none. */
export function countResults(results: readonly { status: string }[]): string {
  const order = ["sent", "unchanged", "skipped", "failed"];
  const counts = new Map<string, number>();
  for (const r of results) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
  const parts = [...counts.entries()].sort((a, b) => order.indexOf(a[0]) - order.indexOf(b[0])).map(([status, n]) => `${n} ${status}`);
  return parts.join(", ") || "no sources";
}

/** What the client daemon plans, as its line shows it. */
export interface ClientPlanSummary {
  /** The next tick by the schedule (null: none known). */
  next: Date | null;
  /** A retry before it, while the server is down (client/tick-plan.ts). */
  retry?: Date | null;
  /** A tick in flight since then. */
  runningSince?: Date;
  /** The tick in flight waits its turn at a busy server since then, and tries again at `retry`. */
  busy?: { since: Date; retry: Date };
}

/**
 * `Server: Up since 12:00 | last tick 12:03: 3 sent, 2 unchanged | next 12:33`;
 * Down carries its kind and the retry planned: `Server: Down since 12:05 (refused) | … | retry 12:07 | next 12:33`.
 * A server that had no room is Busy, never Down; while the tick in flight waits its turn:
 * `Server: Busy, queued since 03:00:02, next try 03:00:14 | tick running since 03:00 | …`.
 * A tick in flight shows instead of the times to come.
 */
export function clientStatusLine(last: ClientTickSummary | null, plan: ClientPlanSummary, now: Date): string {
  const parts: string[] = [];
  if (plan.busy && plan.runningSince)
    parts.push(`Server: Busy, queued since ${clockSeconds(plan.busy.since, now)}, next try ${clockSeconds(plan.busy.retry, now)}`);
  else if (!last) parts.push("Server: not probed yet");
  else if (last.server === "up") parts.push(`Server: Up since ${clockTime(last.since ?? last.at, now)}`);
  else if (last.kind === "busy") parts.push(`Server: Busy since ${clockTime(last.since ?? last.at, now)} (no turn within the busy window)`);
  else parts.push(`Server: Down since ${clockTime(last.since ?? last.at, now)}${last.kind ? ` (${last.kind})` : ""}`);
  if (plan.runningSince) parts.push(`tick running since ${clockTime(plan.runningSince, now)}`);
  if (last) parts.push(`last tick ${clockTime(last.at, now)}: ${countResults(last.results)}`);
  if (plan.retry && !plan.runningSince) parts.push(`retry ${clockTime(plan.retry, now)}`);
  if (plan.next && !plan.runningSince) parts.push(`next ${clockTime(plan.next, now)}`);
  return parts.join(" | ");
}

/** `Serving 14 clients (3 connected, 2 waiting their turn) | last archive 12:03 web01/etc | 1.2 TiB free`. */
export function serverStatusLine(s: ServerSummary, now: Date): string {
  const load = [s.connected > 0 ? `${s.connected} connected` : "", s.waiting ? `${s.waiting} waiting their turn` : ""].filter(Boolean);
  const serving = `Serving ${s.clients} client${s.clients === 1 ? "" : "s"}${load.length > 0 ? ` (${load.join(", ")})` : ""}`;
  const last = s.lastArchive
    ? `last archive ${clockTime(s.lastArchive.storedAt, now)} ${s.lastArchive.client}/${s.lastArchive.name}`
    : "no archive yet";
  const free = s.freeBytes === null ? "free space unknown" : `${formatSize(s.freeBytes)} free`;
  return [serving, last, free].join(" | ");
}
