// What each config key expects, in the words used by messages and hints.
import { genericKey, type PathSegment } from "./issue.ts";

export interface KeyHelp {
  /** How to name the expected value in "expected X, got Y" when the JSON type alone says too little. */
  expected?: string;
  /** What the user should write. */
  hint: string;
}

export const DURATION_HINT = "use a duration like 30s, 15m, 48h or 7d";
export const SIZE_HINT = "use a size like 512KiB, 8MiB or 2GiB, or a number of bytes";
const CLIENT_KEY_HINT = 'paste the "ed25519:..." line that hashrelay keygen printed on that client';

/** Keyed by genericKey(path): list indexes written as []. Every key of the schema has an entry (tested). */
const HELP: Record<string, KeyHelp> = {
  "(root)": { expected: "a mapping with version and a client or server section", hint: "start from hashrelay.example.yaml" },
  version: { hint: "write version: 1" },
  port: { hint: "use a port between 1 and 65535; client and server must use the same one" },
  client: {
    expected: "a mapping",
    hint: "client: holds name, server, serverKey, key, schedule, timezone, splay, busyWindow, state and paths",
  },
  "client.name": { hint: "use a short name such as web01, the one listed under server.clients on the server" },
  "client.server": {
    hint: "write host or host:port, e.g. nas.lan, 192.0.2.10:7373 or [2001:db8::1]:7373, or auto to find the server on the LAN",
  },
  "client.serverKey": { hint: 'paste the "ed25519:..." line that hashrelay keygen printed on the server' },
  "client.key": { expected: "a path", hint: "give this client's private key file, e.g. ./client.key" },
  "client.schedule": { hint: 'write "every 30m" or a 5-field cron expression such as "0 3 * * *" (in client.timezone, else local time)' },
  "client.timezone": { hint: "write an IANA time zone name such as Europe/Paris or UTC; without the key cron uses the machine's zone" },
  "client.splay": {
    expected: "a duration",
    hint: "use a duration like 15m or 1h: each scheduled tick starts up to that late, fixed per client",
  },
  "client.busyWindow": {
    expected: "a duration",
    hint: "use a duration like 30m or 2h: how long a tick waits its turn at a busy server, by default until the next tick",
  },
  "client.compression": { expected: '"gzip" or "zstd"', hint: "gzip gives .tar.gz archives (default), zstd gives .tar.zst" },
  "client.state": { expected: "a path", hint: "give a folder, e.g. ./state" },
  "client.paths": { expected: "a list", hint: 'list the folders or files to back up, e.g. "- /etc"' },
  "client.paths[]": {
    expected: "a path or a mapping with path:",
    hint: "write a path, or path: with optional name: and exclude:",
  },
  "client.paths[].path": { expected: "a path", hint: "give the folder or file to back up, e.g. /var/www" },
  "client.paths[].name": { hint: "use a short name such as www; archive names carry it" },
  "client.paths[].exclude": { expected: "a list", hint: 'list patterns, e.g. ["*.log", "cache/"]' },
  "client.paths[].exclude[]": { expected: "a pattern", hint: 'write a pattern such as "*.log" or "cache/"' },
  server: {
    expected: "a mapping",
    hint: "server: holds listen, key, storage, s3, cache, minFree, scrub, retention, limits, metrics and clients",
  },
  "server.listen": { hint: "use an address such as 0.0.0.0 for every IPv4 address or :: for every IPv6 address" },
  "server.key": { expected: "a path", hint: "give the server's private key file, e.g. ./server.key" },
  "server.storage": {
    expected: "a path or an s3:// URL",
    hint: "give the folder that receives the archives, e.g. /srv/hashrelay, or a bucket, e.g. s3://backups/hashrelay",
  },
  "server.s3": { expected: "a mapping", hint: "s3: holds endpoint, region, pathStyle, credentials and trashVersions" },
  "server.s3.endpoint": { hint: "write http:// or https://, the host and the port, e.g. https://rgw.lan:7480" },
  "server.s3.region": { hint: "write the region, e.g. us-east-1, or default for Ceph RGW" },
  "server.s3.pathStyle": { expected: "true or false", hint: "true for Ceph RGW and MinIO, false for bucket.host URLs" },
  "server.s3.credentials": { expected: "a path", hint: "give a 0600 AWS credentials file, e.g. /etc/hashrelay/s3.credentials" },
  "server.s3.trashVersions": { hint: "give the number of trashed versions kept per source, at least 1, e.g. 3" },
  "server.cache": { expected: "a path", hint: "give the local cache folder, e.g. /var/cache/hashrelay" },
  "server.minFree": { expected: "a size", hint: SIZE_HINT },
  "server.scrub": {
    expected: "a duration or off",
    hint: "use a duration of at least 10s such as 30d (the whole store read once in 30 days), or off",
  },
  "server.retention": { expected: "a mapping", hint: "retention: holds keep, trashFor and suspect" },
  "server.retention.keep": { hint: "give the number of archives kept per source, at least 1" },
  "server.retention.trashFor": { expected: "a duration", hint: DURATION_HINT },
  "server.retention.suspect": { expected: "a mapping", hint: "suspect: holds maxShared, ratioJump, minRatio and releaseAfter" },
  "server.retention.suspect.maxShared": { hint: "give a share from 0 to 1, e.g. 0.1; 0 turns the guard off" },
  "server.retention.suspect.ratioJump": { hint: "give a rise of the compression ratio from 0 to 1, e.g. 0.15" },
  "server.retention.suspect.minRatio": { hint: "give a compression ratio from 0 to 1, e.g. 0.2" },
  "server.retention.suspect.releaseAfter": { hint: "give a number of backups, e.g. 3, or 0 to release only with hashrelay release" },
  "server.limits": { expected: "a mapping", hint: "limits: holds maxConnections, handshakeTimeout, idleTimeout and streams" },
  "server.limits.streams": { hint: "give the number of uploads that may stream at once, e.g. 2, or 0 for none" },
  "server.limits.maxConnections": { hint: "give the number of sessions open at once, e.g. 64" },
  "server.limits.handshakeTimeout": { expected: "a duration", hint: "use a duration of at least 1s, e.g. 10s" },
  "server.limits.idleTimeout": {
    expected: "a duration",
    hint: "use a duration of at least 40s, e.g. 60s: clients speak at least every 30 s",
  },
  "server.metrics": { hint: "write host:port for the Prometheus endpoint, e.g. 127.0.0.1:9373" },
  "server.clients": { expected: "a list", hint: "list each client with name: and key:" },
  "server.clients[]": {
    expected: "a mapping with name: and key:",
    hint: `give the client's name and key (and optionally its quota); ${CLIENT_KEY_HINT}`,
  },
  "server.clients[].name": { hint: "use the client's client.name, e.g. web01" },
  "server.clients[].key": { hint: CLIENT_KEY_HINT },
  "server.clients[].quota": { expected: "a size", hint: "give the most this client may take, archives and trash included, e.g. 50GiB" },
};

/** Help for the key at `path`; a neutral hint for keys the table does not know (unknown keys). */
export function keyHelp(path: readonly PathSegment[]): KeyHelp {
  return HELP[genericKey(path)] ?? { hint: "see config/hashrelay.schema.json for what this key takes" };
}

/** Every key the table covers, for the test that keeps it in step with the schema. */
export function helpedKeys(): string[] {
  return Object.keys(HELP);
}
