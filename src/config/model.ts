// The normalized config that parse-config produces, and the key-file facts it may consult.
import type { Schedule } from "./schedule.ts";

/** One source of a client, with every path absolute and the name a slug. */
export interface SourceConfig {
  /** Absolute path of the folder or file. */
  path: string;
  /** Slug: `name:` slugified, else the path's last part slugified. Unique within the client. */
  name: string;
  exclude: string[];
  /** Where the source is written in the config file (1-based). */
  line: number;
  col: number;
}

export interface ClientConfig {
  /** Slug: client.name, else the host name given to parseConfig. */
  name: string;
  /**
   * The server to connect to; port is the top-level port unless client.server names one. IPv6 hosts carry no brackets.
   * `server: auto` gives { host: "auto", port: top-level port, auto: true }: the address is found by LAN discovery on that port.
   */
  server: { host: string; port: number; auto?: true };
  serverKeyText: string;
  serverKey: Uint8Array;
  /** Absolute path of this client's private key file. */
  key: string;
  schedule: Schedule;
  scheduleText: string;
  /** client.timezone: the IANA zone cron fields are read in, as the runtime spells it; null: the machine's zone. */
  timezone: string | null;
  /** client.splay: scheduled ticks start a fixed share of it late (config/tick-schedule.ts); 0 = none. */
  splayMs: number;
  /** client.busyWindow: how long a tick waits its turn at a busy server; null: until the next scheduled tick. */
  busyWindowMs: number | null;
  /** Archive format: gzip members (.tar.gz, default) or zstd members (.tar.zst). */
  compression: "gzip" | "zstd";
  /** Absolute path of the state folder (default <config dir>/state). */
  state: string;
  paths: SourceConfig[];
}

/** server.retention.suspect: when a new archive is held as a suspect replacement (see src/store/suspect-replacement.ts). */
export interface SuspectRules {
  /** Suspect only when less than this share of the new raw bytes is in chunks the predecessor holds (0 turns detection off). */
  maxShared: number;
  /** ... and the compression ratio (compressed / raw) rose by at least this much ... */
  ratioJump: number;
  /** ... to at least this ratio. */
  minRatio: number;
  /** Later non-suspect archives after which a hold lifts by itself; 0: only `hashrelay release` lifts it. */
  releaseAfter: number;
}

/** server.storage as s3://bucket/prefix with server.s3 (issue 19). */
export interface BucketConfig {
  /** server.storage as written, e.g. "s3://backups/hashrelay". */
  url: string;
  bucket: string;
  /** Key prefix without a leading or trailing "/"; "" for the bucket's root. */
  prefix: string;
  /** server.s3.endpoint (http or https, no path); absent: AWS_ENDPOINT_URL. */
  endpoint?: string;
  /** server.s3.region; absent: AWS_REGION, else us-east-1. */
  region?: string;
  /** server.s3.pathStyle: endpoint/bucket/key (default true: Ceph RGW, MinIO) or bucket.endpoint/key. */
  pathStyle: boolean;
  /** server.s3.credentials: absolute path of a 0600 AWS credentials file; absent: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. */
  credentials?: string;
  /** server.s3.trashVersions: trashed objects kept per source at most (besides retention.trashFor); absent: no cap. */
  trashVersions?: number;
}

export interface ServerConfig {
  /** Address to listen on (default 0.0.0.0); the port is Config.port. IPv6 addresses carry no brackets. */
  listen: string;
  /** Absolute path of the server's private key file. */
  key: string;
  /**
   * Absolute path of the folder the store opens: server.storage (default /home/HashRelay-server/backup),
   * or with an S3 URL there the local cache (server.cache, default /home/HashRelay-server/cache).
   */
  storage: string;
  /** Set when server.storage is an s3:// URL: the bucket is authoritative, `storage` is its cache (docs/storage.md). */
  bucket?: BucketConfig;
  /** Free bytes the storage disk keeps: uploads that would leave less are refused NO_SPACE (server.minFree; default 64 MiB). */
  minFreeBytes: number;
  /** server.scrub: every stored archive is read once per this many ms (default 30 days); null: off. */
  scrubCycleMs: number | null;
  retention: { keep: number; trashForMs: number; suspect: SuspectRules };
  /**
   * server.limits: sessions open at once, handshake and idle timeouts (defaults 64, 10 s, 60 s), uploads that may
   * stream at once (PROTOCOL.md §8.10; null: one per core).
   */
  limits: { maxConnections: number; handshakeTimeoutMs: number; idleTimeoutMs: number; streams: number | null };
  /** Where to serve Prometheus metrics (server.metrics), or undefined when off. IPv6 hosts carry no brackets. */
  metrics?: { host: string; port: number };
  /** quotaBytes: the most its archives, trash and staging may take (server.clients[].quota); null: no quota. */
  clients: { name: string; keyText: string; key: Uint8Array; quotaBytes: number | null }[];
}

export interface Config {
  /** The config file as given to parseConfig, and its absolute folder. */
  file: string;
  dir: string;
  /** SHA-256 (hex) of the file's text: equal hashes mean nothing changed. */
  hash: string;
  version: 1;
  port: number;
  client?: ClientConfig;
  server?: ServerConfig;
}

export type KeyFileFact = { kind: "missing" } | { kind: "unreadable"; reason: string } | { kind: "ok"; mode: number };

/** What parseConfig may learn about files. Owned here; src/io/file-facts.ts implements it over node:fs. */
export interface FileFacts {
  /** Facts about a private key file at an absolute path; `mode` is stat's st_mode (type and permission bits). Must not throw. */
  statKeyFile(absPath: string): KeyFileFact;
}
