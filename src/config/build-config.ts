// Checks what the schema cannot (durations, cron, keys, names, hosts, key files) and builds the normalized Config.
import { posix } from "node:path";
import { parseDuration } from "./units.ts";
import { parseHostPort } from "./host-port.ts";
import type { PathSegment } from "./issue.ts";
import { DURATION_HINT, keyHelp } from "./key-help.ts";
import type { BucketConfig, ClientConfig, Config, ServerConfig, SourceConfig, SuspectRules } from "./model.ts";
import { checkSchedule } from "./schedule.ts";
import { endpointProblem, isS3Url, parseS3Url } from "./bucket-config.ts";
import { checkTimeZone } from "./time-zone.ts";
import type { Finding } from "./schema-findings.ts";
import { MAX_SLUG_LENGTH, toSlug } from "./slug.ts";
import { type BuildContext, type Fields, FieldReader, isFields, Problem } from "./field-reader.ts";

export const DEFAULT_PORT = 7373;
export const DEFAULT_SCHEDULE = "every 1h";
export const DEFAULT_STATE = "./state";
export const DEFAULT_LISTEN = "0.0.0.0";
export const DEFAULT_STORAGE = "/home/HashRelay-server/backup";
/** server.cache: the local folder of what is derived when server.storage is an S3 URL. */
export const DEFAULT_CACHE = "/home/HashRelay-server/cache";
export const DEFAULT_KEEP = 1;
export const DEFAULT_TRASH_FOR = "48h";
export const DEFAULT_MIN_FREE = "64MiB";
/** server.scrub: every stored archive read once in 30 days (src/store/scrub-schedule.ts). */
export const DEFAULT_SCRUB = "30d";
/** A shorter scrub cycle would read the store without pause. */
export const MIN_SCRUB_CYCLE_MS = 10_000;
/** server.retention.suspect defaults; the figures behind them are in src/store/suspect-replacement.ts. */
export const DEFAULT_SUSPECT: SuspectRules = { maxShared: 0.1, ratioJump: 0.15, minRatio: 0.2, releaseAfter: 0 };
export const DEFAULT_MAX_CONNECTIONS = 64;
export const DEFAULT_HANDSHAKE_TIMEOUT = "10s";
export const DEFAULT_IDLE_TIMEOUT = "60s";
/** Clients speak at least every 30 s (PROTOCOL.md §3): a shorter idle timeout would cut healthy sessions. */
export const MIN_IDLE_TIMEOUT_MS = 40_000;

/**
 * Semantic findings for a value the schema may or may not have accepted (every read is type-guarded),
 * and the normalized Config, which is null whenever a finding was made.
 */
export function buildConfig(value: unknown, ctx: BuildContext): { config: Config | null; findings: Finding[] } {
  const b = new Builder(ctx);
  const root = isFields(value) ? value : {};
  const port = typeof root.port === "number" ? root.port : DEFAULT_PORT;
  const client = isFields(root.client) ? b.client(root.client, port) : undefined;
  const server = isFields(root.server) ? b.server(root.server) : undefined;
  if (b.findings.length > 0 || (root.client !== undefined && !client) || (root.server !== undefined && !server)) {
    return { config: null, findings: b.findings };
  }
  const config: Config = { file: ctx.file, dir: ctx.dir, hash: ctx.hash, version: 1, port };
  if (client) config.client = client;
  if (server) config.server = server;
  return { config, findings: b.findings };
}

class Builder extends FieldReader {
  client(c: Fields, port: number): ClientConfig | undefined {
    const at = (...rest: PathSegment[]): PathSegment[] => ["client", ...rest];
    const name = this.clientName(c.name);
    const server = this.text(at("server"), c.server, (text) => {
      if (text === "auto") return { host: "auto", port, auto: true as const };
      const parsed = parseHostPort(text);
      return parsed.ok ? { host: parsed.host, port: parsed.port ?? port } : new Problem(parsed.message, parsed.hint);
    });
    const serverKey = this.publicKey(at("serverKey"), c.serverKey);
    const key = this.keyFile(at("key"), c.key);
    const scheduleText = typeof c.schedule === "string" ? c.schedule.trim() : DEFAULT_SCHEDULE;
    const schedule = this.text(at("schedule"), scheduleText, (text) => {
      const checked = checkSchedule(text);
      return checked.ok ? checked.schedule : new Problem(checked.message, checked.hint);
    });
    const timezone =
      c.timezone === undefined
        ? null
        : this.text(at("timezone"), c.timezone, (text) => {
            const checked = checkTimeZone(text);
            return checked.ok ? checked.zone : new Problem(checked.message, checked.hint);
          });
    const splayMs = this.text(at("splay"), c.splay ?? "0s", (text) => {
      return parseDuration(text) ?? new Problem(`"${text}" is not a duration`, keyHelp(at("splay")).hint);
    });
    const busyWindowMs =
      c.busyWindow === undefined
        ? null
        : this.text(at("busyWindow"), c.busyWindow, (text) => {
            return parseDuration(text) ?? new Problem(`"${text}" is not a duration`, keyHelp(at("busyWindow")).hint);
          });
    const state = this.path(at("state"), c.state ?? DEFAULT_STATE);
    const paths = this.sources(c.paths);
    if (!name || !server || !serverKey || !key || !schedule || !state || !paths) return undefined;
    if (timezone === undefined || splayMs === undefined || busyWindowMs === undefined) return undefined;
    const compression = c.compression === "zstd" ? "zstd" : "gzip";
    const serverKeyText = String(c.serverKey);
    const when = { schedule, scheduleText, timezone, splayMs, busyWindowMs };
    return { name, server, serverKeyText, serverKey, key, ...when, compression, state, paths };
  }

  server(s: Fields): ServerConfig | undefined {
    const at = (...rest: PathSegment[]): PathSegment[] => ["server", ...rest];
    const listen = this.text(at("listen"), s.listen ?? DEFAULT_LISTEN, (text) => {
      const parsed = parseHostPort(text);
      if (!parsed.ok) return new Problem(parsed.message, keyHelp(at("listen")).hint);
      if (parsed.port !== undefined) {
        const message = `"${text}" has a port; the server listens on the top-level port`;
        return new Problem(message, "write only the address here and set the top-level port: key");
      }
      return parsed.host;
    });
    const key = this.keyFile(at("key"), s.key);
    const { storage, bucket } = this.storage(s);
    const minFreeBytes = this.size(at("minFree"), s.minFree ?? DEFAULT_MIN_FREE);
    const scrubCycleMs = this.text(at("scrub"), s.scrub ?? DEFAULT_SCRUB, (text) => {
      if (text === "off") return null;
      const ms = parseDuration(text);
      if (ms === null) return new Problem(`"${text}" is not a duration`, keyHelp(at("scrub")).hint);
      return ms >= MIN_SCRUB_CYCLE_MS ? ms : new Problem(`${text} is shorter than 10s`, keyHelp(at("scrub")).hint);
    });
    const r = isFields(s.retention) ? s.retention : {};
    const keep = typeof r.keep === "number" ? r.keep : DEFAULT_KEEP;
    const trashForMs = this.text(at("retention", "trashFor"), r.trashFor ?? DEFAULT_TRASH_FOR, (text) => {
      return parseDuration(text) ?? new Problem(`"${text}" is not a duration`, DURATION_HINT);
    });
    const rs = isFields(r.suspect) ? r.suspect : {};
    const pick = (key: keyof SuspectRules) => {
      const value = rs[key];
      return typeof value === "number" ? value : DEFAULT_SUSPECT[key];
    };
    const suspect: SuspectRules = {
      maxShared: pick("maxShared"),
      ratioJump: pick("ratioJump"),
      minRatio: pick("minRatio"),
      releaseAfter: pick("releaseAfter"),
    };
    const limits = this.limits(isFields(s.limits) ? s.limits : {});
    const clients = this.serverClients(s.clients);
    const metrics =
      s.metrics === undefined
        ? null
        : this.text(at("metrics"), s.metrics, (text) => {
            const parsed = parseHostPort(text);
            if (!parsed.ok) return new Problem(parsed.message, keyHelp(at("metrics")).hint);
            if (parsed.port === undefined) return new Problem(`"${text}" has no port`, keyHelp(at("metrics")).hint);
            return { host: parsed.host, port: parsed.port };
          });
    if (
      !listen ||
      !key ||
      !storage ||
      bucket === null ||
      minFreeBytes === undefined ||
      scrubCycleMs === undefined ||
      trashForMs === undefined ||
      !limits ||
      !clients ||
      metrics === undefined
    )
      return undefined;
    return {
      listen,
      key,
      storage,
      ...(bucket ? { bucket } : {}),
      minFreeBytes,
      scrubCycleMs,
      retention: { keep, trashForMs, suspect },
      limits,
      ...(metrics ? { metrics } : {}),
      clients,
    };
  }

  /**
   * server.storage: a folder, or s3://bucket/prefix with server.s3 and the cache folder server.cache
   * (which only an S3 storage has). `bucket` null: reported.
   */
  private storage(s: Fields): { storage: string | undefined; bucket?: BucketConfig | null } {
    const at = (...rest: PathSegment[]): PathSegment[] => ["server", ...rest];
    const raw = s.storage ?? DEFAULT_STORAGE;
    if (!(typeof raw === "string" && isS3Url(raw))) {
      for (const key of ["s3", "cache"] as const)
        if (s[key] !== undefined) this.fail(at(key), "key", `server.${key} is set but server.storage is a folder`, S3_ONLY_HINT);
      return { storage: this.path(at("storage"), raw), ...(s.s3 !== undefined || s.cache !== undefined ? { bucket: null } : {}) };
    }
    const storage = this.path(at("cache"), s.cache ?? DEFAULT_CACHE);
    const o = isFields(s.s3) ? s.s3 : {};
    const url = this.text(at("storage"), raw, (text) => {
      const parsed = parseS3Url(text);
      return parsed.ok ? parsed : new Problem(parsed.message, parsed.hint);
    });
    const endpoint =
      o.endpoint === undefined
        ? null
        : this.text(at("s3", "endpoint"), o.endpoint, (text) => {
            const problem = endpointProblem(text);
            return problem ? new Problem(problem, keyHelp(at("s3", "endpoint")).hint) : text.replace(/\/$/, "");
          });
    const credentials = o.credentials === undefined ? null : this.keyFile(at("s3", "credentials"), o.credentials, "credentials file");
    if (!url || endpoint === undefined || credentials === undefined) return { storage, bucket: null };
    const bucket: BucketConfig = { url: raw, bucket: url.bucket, prefix: url.prefix, pathStyle: o.pathStyle !== false };
    if (endpoint) bucket.endpoint = endpoint;
    if (typeof o.region === "string") bucket.region = o.region;
    if (credentials) bucket.credentials = credentials;
    if (typeof o.trashVersions === "number") bucket.trashVersions = o.trashVersions;
    return { storage, bucket };
  }

  private limits(l: Fields): ServerConfig["limits"] | undefined {
    const at = (key: string): PathSegment[] => ["server", "limits", key];
    const maxConnections = typeof l.maxConnections === "number" ? l.maxConnections : DEFAULT_MAX_CONNECTIONS;
    const handshakeTimeoutMs = this.text(at("handshakeTimeout"), l.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT, (text) => {
      const ms = parseDuration(text);
      if (ms === null) return new Problem(`"${text}" is not a duration`, DURATION_HINT);
      return ms >= 1_000 ? ms : new Problem(`${text} is too short`, "give the handshake at least 1s, e.g. 10s");
    });
    const idleTimeoutMs = this.text(at("idleTimeout"), l.idleTimeout ?? DEFAULT_IDLE_TIMEOUT, (text) => {
      const ms = parseDuration(text);
      if (ms === null) return new Problem(`"${text}" is not a duration`, DURATION_HINT);
      return ms >= MIN_IDLE_TIMEOUT_MS ? ms : new Problem(`${text} is shorter than 40s`, keyHelp(at("idleTimeout")).hint);
    });
    if (handshakeTimeoutMs === undefined || idleTimeoutMs === undefined) return undefined;
    const streams = typeof l.streams === "number" ? l.streams : null;
    return { maxConnections, handshakeTimeoutMs, idleTimeoutMs, streams };
  }

  private clientName(raw: unknown): string | undefined {
    if (raw !== undefined) return this.name(["client", "name"], raw);
    const help = keyHelp(["client", "name"]).hint;
    if (this.ctx.hostname === undefined) {
      this.fail(["client", "name"], "parent", "no name is given and the host name is unknown", `set one: ${help}`);
      return undefined;
    }
    const slug = toSlug(this.ctx.hostname);
    if (slug === "" || slug.length > MAX_SLUG_LENGTH) {
      this.fail(["client", "name"], "parent", `the host name "${this.ctx.hostname}" makes no usable name`, `set one: ${help}`);
      return undefined;
    }
    return slug;
  }

  private sources(raw: unknown): SourceConfig[] | undefined {
    if (!Array.isArray(raw)) return undefined;
    const out: SourceConfig[] = [];
    const seen = new Map<string, PathSegment[]>();
    for (const [i, item] of raw.entries()) {
      const itemPath: PathSegment[] = ["client", "paths", i];
      const fields: Fields | undefined = typeof item === "string" ? { path: item } : isFields(item) ? item : undefined;
      if (!fields) continue;
      const pathAt = typeof item === "string" ? itemPath : [...itemPath, "path"];
      const abs = this.path(pathAt, fields.path);
      const nameAt = fields.name !== undefined ? [...itemPath, "name"] : pathAt;
      let name: string | undefined;
      if (fields.name !== undefined) {
        name = this.name(nameAt, fields.name);
      } else if (abs !== undefined) {
        name = toSlug(posix.basename(abs));
        if (name === "" || name.length > MAX_SLUG_LENGTH) {
          this.fail(pathAt, "value", `"${abs}" makes no usable source name`, 'add a name, e.g. "- path: /" with "name: root" below it');
          name = undefined;
        }
      }
      if (name === undefined || abs === undefined) continue;
      if (
        !this.firstUse(
          seen,
          name,
          nameAt,
          (first) => `source name "${name}" is already used by ${first}`,
          'give one of them another name with "name:"',
        )
      )
        continue;
      const exclude = Array.isArray(fields.exclude) ? fields.exclude.filter((p): p is string => typeof p === "string") : [];
      const { line, col } = this.ctx.locate(itemPath, "value");
      out.push({ path: abs, name, exclude, line, col });
    }
    return out.length === raw.length ? out : undefined;
  }

  private serverClients(raw: unknown): ServerConfig["clients"] | undefined {
    if (!Array.isArray(raw)) return undefined;
    const out: ServerConfig["clients"] = [];
    const names = new Map<string, PathSegment[]>();
    const keys = new Map<string, PathSegment[]>();
    for (const [i, item] of raw.entries()) {
      if (!isFields(item)) continue;
      const itemPath: PathSegment[] = ["server", "clients", i];
      const name = this.name([...itemPath, "name"], item.name);
      const key = this.publicKey([...itemPath, "key"], item.key);
      const nameIsNew =
        name !== undefined &&
        this.firstUse(
          names,
          name,
          [...itemPath, "name"],
          (first) => `client name "${name}" is already used by ${first}`,
          "each client needs its own name",
        );
      const keyIsNew =
        key !== undefined &&
        this.firstUse(
          keys,
          Buffer.from(key).toString("base64"),
          [...itemPath, "key"],
          (first) => `this key is already given to ${first}`,
          "each client has its own key: run hashrelay keygen on that client and paste the key it prints",
        );
      const quotaBytes = item.quota === undefined ? null : this.size([...itemPath, "quota"], item.quota);
      if (nameIsNew && keyIsNew && quotaBytes !== undefined) out.push({ name, keyText: String(item.key), key, quotaBytes });
    }
    return out.length === raw.length ? out : undefined;
  }
}

const S3_ONLY_HINT = "remove it, or set server.storage to s3://BUCKET/PREFIX";
