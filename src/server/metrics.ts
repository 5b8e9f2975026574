// Server counters and the Prometheus text exposition (format 0.0.4) of counters plus a storage snapshot.
import type { BucketUsage } from "../store/bucket-usage.ts";
import type { AdmissionCounts } from "./admission.ts";

/** One stored archive as the metrics see it: the latest of its client and name. */
export interface ArchiveGauge {
  client: string;
  name: string;
  storedAtMs: number;
  size: number;
}

/** What is measured on disk when a scrape comes in. */
export interface StorageSnapshot {
  latest: ArchiveGauge[];
  trashBytes: number;
  trashItems: number;
  usedBytes: number;
  freeBytes: number | null;
  /** Client and names held as suspect replacements (store/holds.ts). */
  held?: { client: string; name: string }[];
  /** Staging, quotas and refusals (store/space-guard.ts); absent before the store is open. */
  space?: SpaceSnapshot;
  /** The scheduled scrub and what is known damaged; absent before the store is open. */
  scrub?: ScrubSnapshot;
  /** On an S3 storage: its URL and the bucket as last listed (null before the first listing); the rest is the cache's. */
  bucket?: { url: string; usage: BucketUsage | null };
}

/** What the scheduled scrub did (since the store was first scrubbed) and the archives known damaged (store/damage-book.ts). */
export interface ScrubSnapshot {
  bytesRead: number;
  archivesRead: number;
  /** When its last step ran (ms), 0 before any. */
  lastStepMs: number;
  damaged: { client: string; name: string; file: string }[];
}

/** How the disk is shared: what the store's space guard reports, with each client's use of its quota. */
export interface SpaceSnapshot {
  minFreeBytes: number;
  /** Per client with staging: bytes and files of its pool, bytes of its uploads in progress. */
  staging: { client: string; poolBytes: number; poolFiles: number; uploadBytes: number }[];
  releasedBytes: number;
  refusals: { client: string; code: string; count: number }[];
  /** Per client with a quota: the quota and what it takes (archives, trash, staging). */
  quotas: { client: string; quotaBytes: number; usedBytes: number }[];
}

interface PerClient {
  receivedBytes: number;
  chunksReceived: number;
  chunksDeduplicated: number;
  sessions: number;
  archivesStored: number;
}

/** Counters since the process started; every method is O(1) and never throws. */
export class ServerMetrics {
  private readonly clients = new Map<string, PerClient>();
  private authFailures = 0;
  private readonly handshakeFailures = new Map<string, number>();
  private readonly refusals = new Map<string, number>();
  private active = 0;

  constructor(
    clientNames: readonly string[],
    private readonly startedAtMs: number = Date.now(),
  ) {
    for (const name of clientNames) this.client(name);
  }

  /** Clients added by a reload start at 0 like the others. */
  addClients(names: readonly string[]): void {
    for (const name of names) this.client(name);
  }

  sessionOpened(client: string): void {
    this.client(client).sessions++;
    this.active++;
  }

  sessionClosed(): void {
    this.active = Math.max(0, this.active - 1);
  }

  /** A handshake that did not end in a session; UNAUTHORIZED counts as an authentication failure. */
  handshakeRefused(code: string): void {
    if (code === "UNAUTHORIZED") this.authFailures++;
    this.handshakeFailures.set(code, (this.handshakeFailures.get(code) ?? 0) + 1);
  }

  /** A connection that ended before it became a session, by cause (server/admission.ts RefusalCause). */
  connectionRefused(cause: string): void {
    this.refusals.set(cause, (this.refusals.get(cause) ?? 0) + 1);
  }

  /** A manifest page of `entries` chunks of which the server lacked `needed`: the rest is deduplicated. */
  manifestPage(client: string, entries: number, needed: number): void {
    this.client(client).chunksDeduplicated += Math.max(0, entries - needed);
  }

  chunkReceived(client: string, bytes: number): void {
    const c = this.client(client);
    c.receivedBytes += bytes;
    c.chunksReceived++;
  }

  archiveStored(client: string): void {
    this.client(client).archivesStored++;
  }

  get activeSessions(): number {
    return this.active;
  }

  /** The exposition: the latest archives, the counters, admission now, then the rest of the storage snapshot and the start time. */
  render(storage: StorageSnapshot, admission?: AdmissionCounts): string {
    const out = new Exposition();
    latestArchiveFamilies(out, storage.latest);
    this.counterFamilies(out);
    this.admissionFamilies(out, admission);
    storageFamilies(out, storage);
    if (storage.space) spaceFamilies(out, storage.space);
    if (storage.scrub) scrubFamilies(out, storage.scrub);
    if (storage.bucket) bucketFamilies(out, storage.bucket.url, storage.bucket.usage);
    out.family("hashrelay_start_time_seconds", "gauge", "When the server process started (Unix time).", [[{}, this.startedAtMs / 1000]]);
    return out.text();
  }

  private counterFamilies(out: Exposition): void {
    const perClient = (pick: (c: PerClient) => number): Sample[] =>
      [...this.clients.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([client, c]) => [{ client }, pick(c)]);
    out.family(
      "hashrelay_received_bytes_total",
      "counter",
      "Archive payload bytes (gzip members) received from a client.",
      perClient((c) => c.receivedBytes),
    );
    out.family(
      "hashrelay_chunks_received_total",
      "counter",
      "Chunks received from a client.",
      perClient((c) => c.chunksReceived),
    );
    out.family(
      "hashrelay_chunks_deduplicated_total",
      "counter",
      "Chunks a client offered that the server already had (not sent).",
      perClient((c) => c.chunksDeduplicated),
    );
    out.family(
      "hashrelay_archives_stored_total",
      "counter",
      "Archives stored for a client.",
      perClient((c) => c.archivesStored),
    );
    out.family(
      "hashrelay_sessions_total",
      "counter",
      "Authenticated sessions opened by a client.",
      perClient((c) => c.sessions),
    );
    out.family("hashrelay_sessions_active", "gauge", "Authenticated sessions open now.", [[{}, this.active]]);
    out.family("hashrelay_auth_failures_total", "counter", "Handshakes refused as UNAUTHORIZED (unknown client key or bad signature).", [
      [{}, this.authFailures],
    ]);
    out.family(
      "hashrelay_handshake_failures_total",
      "counter",
      "Handshakes that did not end in a session, by error code.",
      [...this.handshakeFailures.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([code, n]) => [{ code }, n]),
    );
  }

  /** Refusals by cause since start; connections by stage and clients waiting for a slot now. */
  private admissionFamilies(out: Exposition, now: AdmissionCounts | undefined): void {
    out.family(
      "hashrelay_connections_refused_total",
      "counter",
      "Connections that ended before they became a session, by cause (busy, evicted, rate-limited, client-limit, hello-timeout, auth-timeout, unauthorized, bad-frame, version, too-large, closed, error).",
      [...this.refusals.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([cause, n]) => [{ cause }, n]),
    );
    if (!now) return;
    out.family(
      "hashrelay_connections",
      "gauge",
      "Open connections by stage: fresh (no HELLO yet), admitted (handshake under way), session.",
      [
        [{ stage: "fresh" }, now.fresh],
        [{ stage: "admitted" }, now.admitted],
        [{ stage: "session" }, now.sessions],
      ],
    );
    out.family("hashrelay_clients_waiting", "gauge", "Listed clients told BUSY that hold a place for the next free session slot.", [
      [{}, now.waiting],
    ]);
  }

  private client(name: string): PerClient {
    let c = this.clients.get(name);
    if (!c) {
      c = { receivedBytes: 0, chunksReceived: 0, chunksDeduplicated: 0, sessions: 0, archivesStored: 0 };
      this.clients.set(name, c);
    }
    return c;
  }
}

/** One sample: its labels and its value. */
type Sample = [Record<string, string>, number];

/** The exposition's lines, family by family. */
class Exposition {
  private readonly lines: string[] = [];

  /** A family: its HELP and TYPE lines, then one line per sample. */
  family(name: string, type: "counter" | "gauge", help: string, samples: Sample[]): void {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) this.lines.push(`${name}${formatLabels(labels)} ${formatValue(value)}`);
  }

  text(): string {
    return this.lines.join("\n") + "\n";
  }
}

/** When and how large the latest archive of each client and name is, sorted by client, then name. */
function latestArchiveFamilies(out: Exposition, archives: readonly ArchiveGauge[]): void {
  const latest = [...archives].sort((a, b) => a.client.localeCompare(b.client) || a.name.localeCompare(b.name));
  out.family(
    "hashrelay_last_success_timestamp_seconds",
    "gauge",
    "When the latest archive of a client and name was stored (Unix time).",
    latest.map((a) => [{ client: a.client, name: a.name }, a.storedAtMs / 1000]),
  );
  out.family(
    "hashrelay_archive_bytes",
    "gauge",
    "Size of the latest archive of a client and name.",
    latest.map((a) => [{ client: a.client, name: a.name }, a.size]),
  );
}

/** Holds, trash and space: measured on disk at the scrape. Free space is left out when unknown. */
function storageFamilies(out: Exposition, storage: StorageSnapshot): void {
  out.family(
    "hashrelay_held_archives",
    "gauge",
    "1 while a client and name keep their last good archive out of retention: a suspect replacement (hashrelay release NAME --client CLIENT lifts it).",
    [...(storage.held ?? [])]
      .sort((a, b) => a.client.localeCompare(b.client) || a.name.localeCompare(b.name))
      .map((h) => [{ client: h.client, name: h.name }, 1]),
  );
  out.family("hashrelay_trash_bytes", "gauge", "Bytes of superseded archives waiting in .trash.", [[{}, storage.trashBytes]]);
  out.family("hashrelay_trash_items", "gauge", "Superseded archives waiting in .trash.", [[{}, storage.trashItems]]);
  out.family("hashrelay_storage_used_bytes", "gauge", "Bytes of archives in storage (on S3: in its cache), trash included.", [
    [{}, storage.usedBytes],
  ]);
  if (storage.freeBytes !== null)
    out.family("hashrelay_storage_free_bytes", "gauge", "Free bytes on the storage file system (on S3: the cache's), for this user.", [
      [{}, storage.freeBytes],
    ]);
}

/** Staging, quotas and refusals: how the disk is shared between the clients. */
function spaceFamilies(out: Exposition, space: SpaceSnapshot): void {
  const byClient = <T extends { client: string }>(rows: readonly T[]) => [...rows].sort((a, b) => a.client.localeCompare(b.client));
  const staging = byClient(space.staging);
  out.family(
    "hashrelay_staging_bytes",
    "gauge",
    "Bytes of a client's staging: chunks of its unfinished uploads (those that ended unstored are released, oldest first, when an upload needs the room).",
    staging.map((s) => [{ client: s.client }, s.poolBytes + s.uploadBytes]),
  );
  out.family(
    "hashrelay_staging_abandoned_files",
    "gauge",
    "Staging files of a client's uploads that ended unstored, waiting for its next upload.",
    staging.filter((s) => s.poolFiles > 0).map((s) => [{ client: s.client }, s.poolFiles]),
  );
  out.family("hashrelay_staging_released_bytes_total", "counter", "Abandoned staging deleted to make room for an upload.", [
    [{}, space.releasedBytes],
  ]);
  out.family(
    "hashrelay_space_refusals_total",
    "counter",
    "Uploads refused for want of room: NO_SPACE (server.minFree, a full disk) or QUOTA (server.clients[].quota).",
    [...space.refusals]
      .sort((a, b) => a.client.localeCompare(b.client) || a.code.localeCompare(b.code))
      .map((r) => [{ client: r.client, code: r.code }, r.count]),
  );
  out.family("hashrelay_min_free_bytes", "gauge", "Free bytes the storage disk keeps (server.minFree).", [[{}, space.minFreeBytes]]);
  const quotas = byClient(space.quotas);
  out.family(
    "hashrelay_quota_bytes",
    "gauge",
    "A client's quota (server.clients[].quota).",
    quotas.map((q) => [{ client: q.client }, q.quotaBytes]),
  );
  out.family(
    "hashrelay_quota_used_bytes",
    "gauge",
    "What a client with a quota takes: its archives, trash and staging.",
    quotas.map((q) => [{ client: q.client }, q.usedBytes]),
  );
}

/** The scheduled scrub's progress and the damaged archives it (or a commit) found. */
function scrubFamilies(out: Exposition, scrub: ScrubSnapshot): void {
  out.family("hashrelay_scrub_read_bytes_total", "counter", "Bytes of stored archives the scheduled scrub (server.scrub) read.", [
    [{}, scrub.bytesRead],
  ]);
  out.family("hashrelay_scrub_archives_total", "counter", "Stored archives the scheduled scrub read whole.", [[{}, scrub.archivesRead]]);
  if (scrub.lastStepMs > 0)
    out.family("hashrelay_scrub_last_timestamp_seconds", "gauge", "When the scheduled scrub last ran (Unix time).", [
      [{}, scrub.lastStepMs / 1000],
    ]);
  out.family(
    "hashrelay_damaged_archives",
    "gauge",
    "1 per archive found damaged (by the scrub, server verify or a commit): the next backup of its source sends the damaged chunks again.",
    [...scrub.damaged]
      .sort((a, b) => a.client.localeCompare(b.client) || a.file.localeCompare(b.file))
      .map((d) => [{ client: d.client, name: d.name, file: d.file }, 1]),
  );
}

/** An S3 storage's bucket, from the purge's last listing (at most a minute old; never listed per scrape). */
function bucketFamilies(out: Exposition, url: string, usage: BucketUsage | null): void {
  const info = { url, endpoint: usage?.endpoint ?? "" };
  out.family("hashrelay_bucket_info", "gauge", "The S3 bucket the archives are stored in (server.storage).", [[info, 1]]);
  if (!usage) return;
  out.family("hashrelay_bucket_reachable", "gauge", "1 when the server's last listing of the bucket succeeded.", [
    [{}, usage.reachable ? 1 : 0],
  ]);
  if (usage.listedAt)
    out.family("hashrelay_bucket_listed_timestamp_seconds", "gauge", "When the bucket was last listed whole (Unix time).", [
      [{}, Date.parse(usage.listedAt) / 1000],
    ]);
  if (usage.lastErrorAt)
    out.family("hashrelay_bucket_last_error_timestamp_seconds", "gauge", "When a request to the bucket last failed (Unix time).", [
      [{}, Date.parse(usage.lastErrorAt) / 1000],
    ]);
  const places = (live: number, trash: number): Sample[] => [
    [{ place: "live" }, live],
    [{ place: "trash" }, trash],
  ];
  out.family(
    "hashrelay_bucket_objects",
    "gauge",
    "Archive objects in the bucket, live and trashed.",
    places(usage.liveObjects, usage.trashObjects),
  );
  out.family(
    "hashrelay_bucket_bytes",
    "gauge",
    "Bytes of archive objects in the bucket, live and trashed.",
    places(usage.liveBytes, usage.trashBytes),
  );
}

function formatLabels(labels: Record<string, string>): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return "";
  return `{${entries.map(([k, v]) => `${k}="${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`).join(",")}}`;
}

function formatValue(value: number): string {
  return Number.isInteger(value) ? String(value) : String(Number(value.toFixed(3)));
}
