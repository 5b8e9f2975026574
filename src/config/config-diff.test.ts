import { describe, expect, test } from "bun:test";
import { diffConfig } from "./config-diff.ts";
import { parseConfig, type Config } from "./parse-config.ts";

const K1 = `"ed25519:${"A".repeat(43)}="`;
const K2 = `"ed25519:${"B".repeat(43)}="`;

function client(
  lines: { paths?: string[]; schedule?: string; server?: string; serverKey?: string; state?: string; extra?: string[] } = {},
): Config {
  const paths = lines.paths ?? ["    - /etc", "    - path: /var/www", "      name: www", '      exclude: ["*.log"]'];
  const text = [
    "version: 1",
    "client:",
    "  name: web01",
    `  server: ${lines.server ?? "nas.lan"}`,
    `  serverKey: ${lines.serverKey ?? K1}`,
    "  key: ./client.key",
    `  schedule: "${lines.schedule ?? "every 30m"}"`,
    `  state: ${lines.state ?? "./state"}`,
    ...(lines.extra ?? []),
    "  paths:",
    ...paths,
    "",
  ].join("\n");
  return parsed(text);
}

function server(
  opts: {
    port?: number;
    listen?: string;
    clients?: [name: string, key: string, quota?: string][];
    keep?: number;
    trashFor?: string;
    limits?: string[];
  } = {},
): Config {
  const clients = opts.clients ?? [
    ["web01", K1],
    ["db01", K2],
  ];
  const text = [
    "version: 1",
    `port: ${opts.port ?? 7373}`,
    "server:",
    `  listen: ${opts.listen ?? "0.0.0.0"}`,
    "  key: ./server.key",
    "  storage: ./nas",
    "  retention:",
    `    keep: ${opts.keep ?? 1}`,
    `    trashFor: ${opts.trashFor ?? "48h"}`,
    ...(opts.limits ? ["  limits:", ...opts.limits.map((l) => `    ${l}`)] : []),
    "  clients:",
    ...clients.flatMap(([name, key, quota]) => [`    - name: ${name}`, `      key: ${key}`, ...(quota ? [`      quota: ${quota}`] : [])]),
    "",
  ].join("\n");
  return parsed(text);
}

function parsed(text: string): Config {
  const result = parseConfig(text, "/etc/hashrelay/hashrelay.yaml");
  if (!result.ok) throw new Error(result.issues.map((i) => `${i.line}:${i.col} ${i.key} ${i.message}`).join("\n"));
  return result.config;
}

describe("diffConfig, client", () => {
  test("start-up is a diff from nothing: every source is added", () => {
    const diff = diffConfig(null, client());
    expect(diff.changes).toEqual(["first config"]);
    expect(diff.empty).toBe(false);
    expect(diff.client!.added.map((s) => s.name)).toEqual(["etc", "www"]);
    expect(diff.client!.schedule).toBe(true);
  });

  test("the same config, even reformatted with comments, is an empty diff", () => {
    const a = client();
    const b = client({ paths: ["    - /etc   # the system", "    - { path: /var/www, name: www, exclude: ['*.log'] }"] });
    expect(a.hash).not.toBe(b.hash);
    const diff = diffConfig(a, b);
    expect(diff.empty).toBe(true);
    expect(diff.changes).toEqual([]);
  });

  test("added, removed, renamed and changed sources are told apart", () => {
    const before = client({ paths: ["    - /etc", "    - /srv/data", "    - path: /var/www", "      name: www", "    - /opt/app"] });
    const after = client({
      paths: ["    - /etc", "    - /home", "    - path: /var/www", "      name: site", "    - path: /opt/app", '      exclude: ["tmp/"]'],
    });
    const diff = diffConfig(before, after).client!;
    expect(diff.added.map((s) => s.path)).toEqual(["/home"]);
    expect(diff.removed.map((s) => s.path)).toEqual(["/srv/data"]);
    expect(diff.renamed).toEqual([{ from: "www", to: "site", path: "/var/www" }]);
    expect(diff.changed).toEqual(["app"]);
    const lines = diffConfig(before, after).changes;
    expect(lines).toContain("client.paths: removed data (/srv/data); its archives stay on the server");
    expect(lines).toContain("client.paths: added home (/home)");
    expect(lines.some((l) => l.startsWith("client.paths: renamed www → site (/var/www)"))).toBe(true);
    expect(lines).toContain('client.paths: app: exclude [] → ["tmp/"]');
  });

  test("a name kept for another path is a changed source, not a rename", () => {
    const diff = diffConfig(client({ paths: ["    - path: /a/www"] }), client({ paths: ["    - path: /b/www"] }));
    expect(diff.client!.changed).toEqual(["www"]);
    expect(diff.changes).toEqual(["client.paths: www: path /a/www → /b/www"]);
  });

  test("schedule, server address, pinned key and state are each reported", () => {
    const diff = diffConfig(client(), client({ schedule: "every 2s", server: "nas2.lan:7474", serverKey: K2, state: "/var/lib/hr" }));
    const c = diff.client!;
    expect([c.schedule, c.server, c.serverKey, c.state, c.key, c.name]).toEqual([true, true, true, true, false, false]);
    expect(diff.changes).toContain("client.schedule: every 30m → every 2s");
    expect(diff.changes).toContain("client.server: nas.lan:7373 → nas2.lan:7474");
    expect(diff.changes).toContain("client.state: /etc/hashrelay/state → /var/lib/hr");
  });

  test("a new time zone or splay changes when ticks fall", () => {
    const zoned = client({ extra: ["  timezone: Europe/Paris", "  splay: 15m"] });
    const diff = diffConfig(client(), zoned);
    expect(diff.client!.schedule).toBe(true);
    expect(diff.changes).toEqual(["client.timezone: the machine's zone → Europe/Paris", "client.splay: 0s → 15m"]);
    expect(diffConfig(zoned, client({ extra: ["  timezone: Europe/Paris", "  splay: 15m"] })).empty).toBe(true);
  });

  test("a busy window is said, and does not move the ticks", () => {
    const diff = diffConfig(client(), client({ extra: ["  busyWindow: 2h"] }));
    expect(diff.client!.schedule).toBe(false);
    expect(diff.changes).toEqual(["client.busyWindow: until the next tick → 2h"]);
  });
});

describe("diffConfig, server", () => {
  test("clients added, removed and re-keyed", () => {
    const diff = diffConfig(
      server(),
      server({
        clients: [
          ["web01", K2],
          ["mail", K1],
        ],
      }),
    ).server!;
    expect(diff.clientsAdded).toEqual(["mail"]);
    expect(diff.clientsRemoved).toEqual(["db01"]);
    expect(diff.clientsRekeyed).toEqual(["web01"]);
    expect(diff.listen).toBe(false);
  });

  test("a quota given, changed or lifted is one line per client", () => {
    const quotas = (web01?: string, db01?: string) =>
      server({
        clients: [
          ["web01", K1, web01],
          ["db01", K2, db01],
        ],
      });
    const diff = diffConfig(quotas(undefined, "10GiB"), quotas("50GiB", undefined));
    expect(diff.server!.clientsRequota).toEqual(["web01", "db01"]);
    expect(diff.changes).toEqual(["server.clients: web01: quota none → 50 GiB", "server.clients: db01: quota 10 GiB → none"]);
    expect(diffConfig(quotas("50GiB"), quotas("50GiB")).empty).toBe(true);
  });

  test("a port or listen address change is a listener change", () => {
    expect(diffConfig(server(), server({ port: 7474 })).server!.listen).toBe(true);
    expect(diffConfig(server(), server({ listen: "127.0.0.1" })).changes).toEqual(["server.listen: 0.0.0.0:7373 → 127.0.0.1:7373"]);
    expect(diffConfig(server(), server({ listen: "::1" })).changes).toEqual(["server.listen: 0.0.0.0:7373 → [::1]:7373"]);
  });

  test("retention, trashFor and limits", () => {
    const diff = diffConfig(server(), server({ keep: 2, trashFor: "1h", limits: ["maxConnections: 8", "idleTimeout: 2m", "streams: 1"] }));
    expect(diff.server!.retention).toBe(true);
    expect(diff.server!.limits).toBe(true);
    expect(diff.changes).toEqual([
      "server.retention: keep 1, trashFor 2d → keep 2, trashFor 1h",
      "server.limits: maxConnections 64, handshakeTimeout 10s, idleTimeout 1m, streams one per core → maxConnections 8, handshakeTimeout 10s, idleTimeout 2m, streams 1",
    ]);
  });

  test("limits written out at their defaults change nothing", () => {
    const diff = diffConfig(server(), server({ limits: ["maxConnections: 64", "handshakeTimeout: 10s", "idleTimeout: 60s"] }));
    expect(diff.empty).toBe(true);
  });
});
