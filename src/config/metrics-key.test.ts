// server.metrics: "host:port" for the Prometheus endpoint; optional, validated with line:col and a hint.
import { describe, expect, test } from "bun:test";
import { formatIssue, parseConfig } from "./parse-config.ts";

const FILE = "/etc/hashrelay/hashrelay.yaml";
const K1 = "ed25519:iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w=";
const HINT = "write host:port for the Prometheus endpoint, e.g. 127.0.0.1:9373";

function serverWith(metricsLine: string): string {
  // line 1 version, 2 server:, 3 key, 4 the metrics line, 5.. clients
  return `version: 1\nserver:\n  key: ./server.key\n${metricsLine}  clients:\n    - name: web01\n      key: "${K1}"\n`;
}

function parse(text: string) {
  return parseConfig(text, FILE, { hostname: "nas" });
}

describe("server.metrics", () => {
  test("absent: metrics are off", () => {
    const result = parse(serverWith(""));
    expect(result.ok && result.config.server!.metrics).toBeUndefined();
  });

  test("host:port, [ipv6]:port and a host name are taken apart", () => {
    const cases: [string, { host: string; port: number }][] = [
      ["127.0.0.1:9373", { host: "127.0.0.1", port: 9373 }],
      ['"[::1]:9100"', { host: "::1", port: 9100 }],
      ["monitor.lan:80", { host: "monitor.lan", port: 80 }],
    ];
    for (const [text, expected] of cases) {
      const result = parse(serverWith(`  metrics: ${text}\n`));
      if (!result.ok) throw new Error(result.issues.map(formatIssue).join("\n"));
      expect(result.config.server!.metrics).toEqual(expected);
    }
  });

  test("a missing port, a bad port and a bad host are refused at the value, with the hint", () => {
    const at = (value: string) => {
      const result = parse(serverWith(`  metrics: ${value}\n`));
      return result.ok ? [] : result.issues.map(formatIssue);
    };
    expect(at("127.0.0.1")).toEqual([`${FILE}:4:12: server.metrics: "127.0.0.1" has no port (${HINT})`]);
    expect(at("127.0.0.1:99999")).toEqual([
      `${FILE}:4:12: server.metrics: port 99999 in "127.0.0.1:99999" is out of range 1-65535 (${HINT})`,
    ]);
    expect(at("bad_host!:80")).toEqual([`${FILE}:4:12: server.metrics: "bad_host!:80" is not a host name or IP address (${HINT})`]);
  });

  test("a number is a schema error naming the key, with the same hint", () => {
    const result = parse(serverWith("  metrics: 9373\n"));
    expect(result.ok ? [] : result.issues.map(formatIssue)).toEqual([`${FILE}:4:12: server.metrics: expected text, got 9373 (${HINT})`]);
  });
});

describe("server.metrics in a reload", () => {
  test("adding, moving or removing the address is a change the reload applies", async () => {
    const { diffConfig } = await import("./config-diff.ts");
    const config = (line: string) => {
      const result = parse(serverWith(line));
      if (!result.ok) throw new Error(result.issues.map(formatIssue).join("\n"));
      return result.config;
    };
    const off = config("");
    const on = config("  metrics: 127.0.0.1:9373\n");
    const moved = config('  metrics: "[::1]:9100"\n');
    expect(diffConfig(off, on)).toMatchObject({
      empty: false,
      changes: ["server.metrics: none → 127.0.0.1:9373"],
      server: { metrics: true },
    });
    expect(diffConfig(on, moved).changes).toEqual(["server.metrics: 127.0.0.1:9373 → [::1]:9100"]);
    expect(diffConfig(moved, off).changes).toEqual(["server.metrics: [::1]:9100 → none"]);
    expect(diffConfig(on, config("  metrics: 127.0.0.1:9373\n"))).toMatchObject({ empty: true, server: { metrics: false } });
  });
});
