import { describe, expect, test } from "bun:test";
import { parseS3Url } from "./bucket-config.ts";
import { formatIssue, parseConfig, type FileFacts } from "./parse-config.ts";
import { stateLocations } from "./state-locations.ts";
import { diffConfig } from "./config-diff.ts";

const FILE = "/etc/hashrelay/hashrelay.yaml";
const K1 = "ed25519:iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w=";

/** A server section with `lines` after its key (line 4 is the first of them). */
const server = (...lines: string[]) =>
  ["version: 1", "server:", "  key: ./server.key", ...lines, "  clients:", "    - name: web01", `      key: ${K1}`, ""].join("\n");

function issues(text: string, facts?: FileFacts): string[] {
  const result = parseConfig(text, FILE, { hostname: "h", ...(facts ? { facts } : {}) });
  return result.ok ? [] : result.issues.map(formatIssue);
}

function valid(text: string) {
  const result = parseConfig(text, FILE, { hostname: "h" });
  if (!result.ok) throw new Error(result.issues.map(formatIssue).join("\n"));
  return result.config.server!;
}

describe("server.storage as an S3 URL", () => {
  test("bucket, prefix, s3 keys and the cache folder", () => {
    const s = valid(
      server(
        "  storage: s3://backups/hashrelay/site-a/",
        "  s3:",
        "    endpoint: http://127.0.0.1:7480/",
        "    region: default",
        "    credentials: ./s3.credentials",
        "    trashVersions: 3",
        "  cache: /var/cache/hashrelay",
      ),
    );
    expect(s.storage).toBe("/var/cache/hashrelay");
    expect(s.bucket).toEqual({
      url: "s3://backups/hashrelay/site-a/",
      bucket: "backups",
      prefix: "hashrelay/site-a",
      endpoint: "http://127.0.0.1:7480",
      region: "default",
      pathStyle: true,
      credentials: "/etc/hashrelay/s3.credentials",
      trashVersions: 3,
    });
  });

  test("defaults: the cache folder, path style, the rest from AWS_* at start", () => {
    const s = valid(server("  storage: s3://backups"));
    expect(s.storage).toBe("/home/HashRelay-server/cache");
    expect(s.bucket).toEqual({ url: "s3://backups", bucket: "backups", prefix: "", pathStyle: true });
    expect(valid(server("  storage: s3://backups", "  s3: { pathStyle: false }")).bucket!.pathStyle).toBe(false);
    expect(valid(server("  storage: /srv/nas")).bucket).toBeUndefined();
  });

  test("a bad URL, endpoint or key is reported at its line and column", () => {
    // "  storage: ": the value starts at col 12
    expect(issues(server("  storage: s3://Backups_1/x"))).toEqual([
      `${FILE}:4:12: server.storage: "Backups_1" is not an S3 bucket name (3-63 of a-z, 0-9, ".", "-") (write s3://BUCKET or s3://BUCKET/PREFIX, e.g. s3://backups/hashrelay)`,
    ]);
    expect(issues(server("  storage: s3://backups/a/../b"))).toEqual([
      `${FILE}:4:12: server.storage: the prefix "a/../b" has an empty, "." or ".." segment (write s3://BUCKET or s3://BUCKET/PREFIX, e.g. s3://backups/hashrelay)`,
    ]);
    // "    endpoint: ": the value starts at col 15, on line 6
    expect(issues(server("  storage: s3://backups", "  s3:", "    endpoint: ftp://rgw.lan"))).toEqual([
      `${FILE}:6:15: server.s3.endpoint: "ftp://rgw.lan" is not http:// or https:// (write http:// or https://, the host and the port, e.g. https://rgw.lan:7480)`,
    ]);
    expect(issues(server("  storage: s3://backups", "  s3:", "    endpoint: https://rgw.lan/bucket"))).toEqual([
      `${FILE}:6:15: server.s3.endpoint: "https://rgw.lan/bucket" has more than a scheme, host and port (write http:// or https://, the host and the port, e.g. https://rgw.lan:7480)`,
    ]);
    expect(issues(server("  storage: s3://backups", "  s3:", "    pathStyle: yes"))).toEqual([
      `${FILE}:6:16: server.s3.pathStyle: expected true or false, got "yes" (true for Ceph RGW and MinIO, false for bucket.host URLs)`,
    ]);
    expect(issues(server("  storage: s3://backups", "  s3:", "    bucket: other"))).toHaveLength(1);
    // "    trashVersions: ": the value starts at col 20
    expect(issues(server("  storage: s3://backups", "  s3:", "    trashVersions: 0"))).toEqual([
      `${FILE}:6:20: server.s3.trashVersions: 0 is less than 1 (give the number of trashed versions kept per source, at least 1, e.g. 3)`,
    ]);
  });

  test("s3 and cache without an S3 storage are refused at their key", () => {
    expect(issues(server("  storage: /srv/nas", "  cache: /var/cache/x"))).toEqual([
      `${FILE}:5:3: server.cache: server.cache is set but server.storage is a folder (remove it, or set server.storage to s3://BUCKET/PREFIX)`,
    ]);
    expect(issues(server("  s3: { region: x }"))).toEqual([
      `${FILE}:4:3: server.s3: server.s3 is set but server.storage is a folder (remove it, or set server.storage to s3://BUCKET/PREFIX)`,
    ]);
  });

  test("the credentials file must be 0600, like a private key", () => {
    const facts: FileFacts = {
      statKeyFile: (p) => (p.endsWith("s3.credentials") ? { kind: "ok", mode: 0o100644 } : { kind: "ok", mode: 0o100600 }),
    };
    expect(issues(server("  storage: s3://backups", "  s3:", "    credentials: /etc/s3.credentials"), facts)).toEqual([
      `${FILE}:6:18: server.s3.credentials: credentials file /etc/s3.credentials is readable by group or others (mode 0644) (chmod 600 /etc/s3.credentials)`,
    ]);
  });

  test("status finds the cache; a change of bucket is a change of storage (reload refuses it)", () => {
    expect(stateLocations(server("  storage: s3://backups", "  cache: ./c"), FILE).serverStorage).toBe("/etc/hashrelay/c");
    const parse = (text: string) => {
      const result = parseConfig(text, FILE, { hostname: "h" });
      if (!result.ok) throw new Error("invalid");
      return result.config;
    };
    const a = parse(server("  storage: s3://backups/a"));
    const b = parse(server("  storage: s3://backups/b"));
    const diff = diffConfig(a, b);
    expect(diff.server!.storage).toBe(true);
    expect(diff.changes).toContain(
      "server.storage: s3://backups/a (cache /home/HashRelay-server/cache) → s3://backups/b (cache /home/HashRelay-server/cache)",
    );
    expect(diffConfig(a, parse(server("  storage: s3://backups/a"))).server!.storage).toBe(false);
  });

  test("parseS3Url", () => {
    expect(parseS3Url("s3://a.b-c")).toEqual({ ok: true, bucket: "a.b-c", prefix: "" });
    expect(parseS3Url("s3://ab")).toMatchObject({ ok: false });
    expect(parseS3Url("s3://abc//x")).toMatchObject({ ok: false });
  });
});
