import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { formatIssue, parseConfig, type FileFacts, type KeyFileFact } from "./parse-config.ts";

const FILE = "/etc/hashrelay/hashrelay.yaml";
// Two valid public keys (seeds 0x01.. and 0x02..), 44 base64 characters after the prefix.
const K1 = "ed25519:iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w=";
const K2 = "ed25519:gTl3Dqh9F19Wo1Rmw0x+zMuNipG07jeiXfYPW4/Js5Q=";

/** The formatted issue lines for `text`; [] when it is valid. */
function issues(text: string, options: Parameters<typeof parseConfig>[2] = { hostname: "testhost" }): string[] {
  const result = parseConfig(text, FILE, options);
  return result.ok ? [] : result.issues.map(formatIssue);
}

function valid(text: string, options: Parameters<typeof parseConfig>[2] = { hostname: "testhost" }) {
  const result = parseConfig(text, FILE, options);
  if (!result.ok) throw new Error(`expected a valid config, got:\n${result.issues.map(formatIssue).join("\n")}`);
  return result.config;
}

// Positions below are counted by hand; the comments after YAML lines give the line number and the column expected.
describe("YAML syntax", () => {
  test("a tab used as indentation", () => {
    const text = "version: 1\nclient:\n\tserver: nas.lan\n";
    expect(issues(text)).toEqual([`${FILE}:3:1: (yaml): tabs are not allowed as indentation (indent with spaces, not tabs)`]);
  });

  test("a key written twice", () => {
    const text = "version: 1\nport: 7373\nport: 7374\n";
    expect(issues(text)).toEqual([`${FILE}:3:1: (yaml): map keys must be unique (keep one of the two keys)`]);
  });

  test("two documents in one file", () => {
    const text = "version: 1\n---\nport: 1\n";
    expect(issues(text)).toEqual([
      `${FILE}:2:1: (yaml): the file holds more than one YAML document (keep one document: remove the --- line and what follows, or merge it)`,
    ]);
  });
});

describe("document shape", () => {
  test("an empty file", () => {
    expect(issues("")).toEqual([`${FILE}:1:1: (root): the file is empty (start from hashrelay.example.yaml)`]);
  });

  test("neither client nor server", () => {
    expect(issues("version: 1\nport: 7373\n")).toEqual([
      `${FILE}:1:1: (root): has neither a client nor a server section (add client: to back up this machine, server: to receive backups, or both)`,
    ]);
  });

  test("version missing, and version 2", () => {
    const server = `server:\n  key: ./server.key\n  clients:\n    - name: web01\n      key: ${K1}\n`;
    // Line 1 is a comment: the root mapping starts on line 2.
    expect(issues(`# HashRelay\n${server}`)).toEqual([`${FILE}:2:1: version: required key is missing (write version: 1)`]);
    expect(issues(`version: 2\n${server}`)).toEqual([`${FILE}:1:10: version: expected 1, got 2 (write version: 1)`]);
  });

  test("port 0 and port 70000", () => {
    const rest = `server:\n  key: ./server.key\n  clients:\n    - name: web01\n      key: ${K1}\n`;
    const hint = "use a port between 1 and 65535; client and server must use the same one";
    expect(issues(`version: 1\nport: 0\n${rest}`)).toEqual([`${FILE}:2:7: port: 0 is out of range 1-65535 (${hint})`]);
    expect(issues(`version: 1\nport: 70000\n${rest}`)).toEqual([`${FILE}:2:7: port: 70000 is out of range 1-65535 (${hint})`]);
  });

  test("wrong types, all reported", () => {
    const text = [
      "version: 1", //            1
      'port: "7373"', //          2: value at col 7
      "client:", //               3
      "  name: 42", //            4: value at col 9
      "  server: nas.lan", //     5
      `  serverKey: ${K1}`, //    6
      "  key: ./client.key", //   7
      "  paths: /etc", //         8: value at col 10
      "",
    ].join("\n");
    expect(issues(text)).toEqual([
      `${FILE}:2:7: port: expected a whole number, got "7373" (use a port between 1 and 65535; client and server must use the same one)`,
      `${FILE}:4:9: client.name: expected text, got 42 (use a short name such as web01, the one listed under server.clients on the server)`,
      `${FILE}:8:10: client.paths: expected a list, got "/etc" (list the folders or files to back up, e.g. "- /etc")`,
    ]);
  });

  test("an empty section points at its key", () => {
    expect(issues("version: 1\nclient:\n")).toEqual([
      `${FILE}:2:1: client: expected a mapping, got nothing (client: holds name, server, serverKey, key, schedule, timezone, splay, busyWindow, state and paths)`,
    ]);
  });
});

describe("unknown keys", () => {
  test("at the top level, with the likely key suggested", () => {
    const text = `version: 1\nprot: 7373\nserver:\n  key: ./server.key\n  clients:\n    - name: web01\n      key: ${K1}\n`;
    expect(issues(text)).toEqual([`${FILE}:2:1: prot: unknown key "prot" (did you mean "port"?)`]);
  });

  test("nested, pointing at the key itself", () => {
    const text = [
      "version: 1", //                 1
      "server:", //                    2
      "  key: ./server.key", //        3
      "  retention:", //               4
      "    keep: 2", //                5
      "    purgeAfter: 48h", //        6: key at col 5
      "  clients:", //                 7
      "    - name: web01", //          8
      `      key: ${K1}`, //           9
      "      Comment: main web", //    10: key at col 7
      "",
    ].join("\n");
    expect(issues(text)).toEqual([
      `${FILE}:6:5: server.retention.purgeAfter: unknown key "purgeAfter" (allowed keys here: keep, trashFor, suspect)`,
      `${FILE}:10:7: server.clients[0].Comment: unknown key "Comment" (allowed keys here: name, key, quota)`,
    ]);
  });

  test("inside a source mapping", () => {
    const text = [
      "version: 1", //              1
      "client:", //                 2
      "  server: nas.lan", //       3
      `  serverKey: ${K1}`, //      4
      "  key: ./client.key", //     5
      "  paths:", //                6
      "    - path: /var/www", //    7
      "      exlude: [cache/]", //  8: key at col 7
      "",
    ].join("\n");
    expect(issues(text)).toEqual([`${FILE}:8:7: client.paths[0].exlude: unknown key "exlude" (did you mean "exclude"?)`]);
  });
});

describe("required sections", () => {
  test("a client without paths points at client:", () => {
    const text = `version: 1\nclient:\n  server: nas.lan\n  serverKey: ${K1}\n  key: ./client.key\n`;
    expect(issues(text)).toEqual([
      `${FILE}:2:1: client.paths: required key is missing (list the folders or files to back up, e.g. "- /etc")`,
    ]);
  });

  test("an empty paths list", () => {
    // Line 6 "  paths: []": the list starts at col 10.
    const text = `version: 1\nclient:\n  server: nas.lan\n  serverKey: ${K1}\n  key: ./client.key\n  paths: []\n`;
    expect(issues(text)).toEqual([`${FILE}:6:10: client.paths: the list is empty (list the folders or files to back up, e.g. "- /etc")`]);
  });

  test("a server without clients, and a client entry without its key", () => {
    expect(issues("version: 1\nserver:\n  key: ./server.key\n")).toEqual([
      `${FILE}:2:1: server.clients: required key is missing (list each client with name: and key:)`,
    ]);
    // Line 5 "    - name: web01": the item's mapping starts at col 7.
    const text = "version: 1\nserver:\n  key: ./server.key\n  clients:\n    - name: web01\n";
    expect(issues(text)).toEqual([
      `${FILE}:5:7: server.clients[0].key: required key is missing (paste the "ed25519:..." line that hashrelay keygen printed on that client)`,
    ]);
  });

  test("a server with an empty client list is valid: a first install runs before any client links", () => {
    const config = valid("version: 1\nserver:\n  key: ./server.key\n  clients: []\n");
    expect(config.server?.clients).toEqual([]);
  });

  test("a client with no name and no host name known", () => {
    const text = `version: 1\nclient:\n  server: nas.lan\n  serverKey: ${K1}\n  key: ./client.key\n  paths: [/etc]\n`;
    expect(issues(text, {})).toEqual([
      `${FILE}:2:1: client.name: no name is given and the host name is unknown (set one: use a short name such as web01, the one listed under server.clients on the server)`,
    ]);
  });
});

describe("values", () => {
  const server = (retention: string) =>
    ["version: 1", "server:", "  key: ./server.key", retention, "  clients:", "    - name: web01", `      key: ${K1}`, ""].join("\n");

  test("a bad duration", () => {
    // Line 4 "  retention: { trashFor: 2 days }": the value starts at col 26.
    expect(issues(server("  retention: { trashFor: 2 days }"))).toEqual([
      `${FILE}:4:26: server.retention.trashFor: "2 days" is not a duration (use a duration like 30s, 15m, 48h or 7d)`,
    ]);
    expect(issues(server("  retention: { trashFor: 48H }"))).toEqual([
      `${FILE}:4:26: server.retention.trashFor: "48H" is not a duration (use a duration like 30s, 15m, 48h or 7d)`,
    ]);
  });

  test("retention.keep below 1", () => {
    // "  retention: { keep: 0 }": the value starts at col 22.
    expect(issues(server("  retention: { keep: 0 }"))).toEqual([
      `${FILE}:4:22: server.retention.keep: 0 is less than 1 (give the number of archives kept per source, at least 1)`,
    ]);
  });

  test("server.scrub: a duration of at least 10s, or off", () => {
    // "  scrub: 2 weeks": the value starts at col 10.
    const hint = "(use a duration of at least 10s such as 30d (the whole store read once in 30 days), or off)";
    expect(issues(server("  scrub: 2 weeks"))).toEqual([`${FILE}:4:10: server.scrub: "2 weeks" is not a duration ${hint}`]);
    expect(issues(server("  scrub: 5s"))).toEqual([`${FILE}:4:10: server.scrub: 5s is shorter than 10s ${hint}`]);
    expect(issues(server("  scrub: 7"))).toEqual([`${FILE}:4:10: server.scrub: expected a duration or off, got 7 ${hint}`]);
    expect(issues(server("  scrub: off"))).toEqual([]);
    expect(issues(server("  scrub: 7d"))).toEqual([]);
  });

  test("a bad size", () => {
    // "  minFree: 8MB": the value starts at col 12.
    expect(issues(server("  minFree: 8MB"))).toEqual([
      `${FILE}:4:12: server.minFree: "8MB" is not a size (use a size like 512KiB, 8MiB or 2GiB, or a number of bytes)`,
    ]);
    expect(issues(server("  minFree: -5"))).toEqual([
      `${FILE}:4:12: server.minFree: -5 is less than 0 (use a size like 512KiB, 8MiB or 2GiB, or a number of bytes)`,
    ]);
    expect(issues(server("  minFree: true"))).toEqual([
      `${FILE}:4:12: server.minFree: expected a size, got true (use a size like 512KiB, 8MiB or 2GiB, or a number of bytes)`,
    ]);
    // a client's quota: the line after its key, the value at col 14
    expect(issues(server("") + "      quota: 50GB\n")).toEqual([
      `${FILE}:8:14: server.clients[0].quota: "50GB" is not a size (use a size like 512KiB, 8MiB or 2GiB, or a number of bytes)`,
    ]);
  });

  test("a listen or metrics address that is no IP address nor host name", () => {
    // '  listen: ...': the value starts at col 11; '  metrics: ...' at col 12.
    const hint = "use an address such as 0.0.0.0 for every IPv4 address or :: for every IPv6 address";
    expect(issues(server("  listen: 999.1.1.1"))).toEqual([
      `${FILE}:4:11: server.listen: "999.1.1.1" is not an IPv4 address: 999 is out of range 0-255 (${hint})`,
    ]);
    expect(issues(server("  listen: 10.0.1"))).toEqual([
      `${FILE}:4:11: server.listen: "10.0.1" is not an IPv4 address: it needs four numbers 0-255 (${hint})`,
    ]);
    expect(issues(server('  listen: "1::2::3"'))).toEqual([
      `${FILE}:4:11: server.listen: "1::2::3" is not a host name or IP address: "::" may appear only once (${hint})`,
    ]);
    expect(issues(server('  listen: "2001:db8::1"'))).toEqual([]);
    expect(issues(server("  metrics: 256.0.0.1:9373"))).toEqual([
      `${FILE}:4:12: server.metrics: "256.0.0.1:9373" is not an IPv4 address: 256 is out of range 0-255 (write host:port for the Prometheus endpoint, e.g. 127.0.0.1:9373)`,
    ]);
  });

  test("a listen address with a port", () => {
    // '  listen: "0.0.0.0:7373"': the value starts at col 11.
    expect(issues(server('  listen: "0.0.0.0:7373"'))).toEqual([
      `${FILE}:4:11: server.listen: "0.0.0.0:7373" has a port; the server listens on the top-level port (write only the address here and set the top-level port: key)`,
    ]);
  });

  const client = (line5: string) =>
    ["version: 1", "client:", "  server: nas.lan", `  serverKey: ${K1}`, line5, "  key: ./client.key", "  paths: [/etc]", ""].join("\n");

  test("a bad cron field, one per field", () => {
    // Line 5 '  schedule: "..."': the value starts at col 13.
    const cases: [string, string][] = [
      ["61 3 * * *", 'minute 61 is out of range 0-59 in "61 3 * * *" (minute is 0-59)'],
      [
        "0 24 * * *",
        "hour 24 is out of range 0-23 in \"0 24 * * *\" (hour is 0-23, in the schedule's time zone (client.timezone, else the machine's))",
      ],
      [
        "0 3 32 * *",
        'day-of-month 32 is out of range 1-31 in "0 3 32 * *" (day-of-month is 1-31, L (the last day) or 15W (the weekday nearest the 15th))',
      ],
      ["0 3 * 13 *", 'month 13 is out of range 1-12 in "0 3 * 13 *" (month is 1-12 or jan, feb, ..., dec)'],
      [
        "0 3 * * sunday",
        'day-of-week "sunday" is not a number or a name in "0 3 * * sunday" (day-of-week is 0-7 or sun, mon, ..., sat (0 and 7 are Sunday); fri#1 to fri#5: the first to fifth Friday, fri#L: the last)',
      ],
      [
        "0 3 * *",
        '"0 3 * *" has 4 fields, a cron expression has 5 (write "every 30m" or 5 fields: minute hour day-of-month month day-of-week, in the schedule\'s time zone, e.g. "0 3 * * *")',
      ],
    ];
    for (const [cron, expected] of cases) {
      expect(issues(client(`  schedule: "${cron}"`))).toEqual([`${FILE}:5:13: client.schedule: ${expected}`]);
    }
  });

  test("a time zone the runtime does not know, and a bad splay", () => {
    // Line 5 "  timezone: ...": the value starts at col 13; "  splay: ...": col 10.
    const zoneHint = "write an IANA time zone name such as Europe/Paris, America/New_York or UTC, or leave the key out for the machine's";
    expect(issues(client("  timezone: Europe/Pariss"))).toEqual([
      `${FILE}:5:13: client.timezone: "Europe/Pariss" is not a time zone this program knows (${zoneHint})`,
    ]);
    expect(issues(client('  timezone: "+02:00"'))).toEqual([
      `${FILE}:5:13: client.timezone: "+02:00" is not a time zone name (${zoneHint})`,
    ]);
    expect(issues(client("  timezone: 2"))).toEqual([
      `${FILE}:5:13: client.timezone: expected text, got 2 (write an IANA time zone name such as Europe/Paris or UTC; without the key cron uses the machine's zone)`,
    ]);
    expect(issues(client("  splay: 15 minutes"))).toEqual([
      `${FILE}:5:10: client.splay: "15 minutes" is not a duration (use a duration like 15m or 1h: each scheduled tick starts up to that late, fixed per client)`,
    ]);
    expect(issues(client("  busyWindow: half an hour"))).toEqual([
      `${FILE}:5:15: client.busyWindow: "half an hour" is not a duration (use a duration like 30m or 2h: how long a tick waits its turn at a busy server, by default until the next tick)`,
    ]);
  });

  test("a bad every", () => {
    // Line 5 "  schedule: every 90 seconds": the value starts at col 13.
    expect(issues(client("  schedule: every 90 seconds"))).toEqual([
      `${FILE}:5:13: client.schedule: "90 seconds" is not a duration in "every 90 seconds" (write every 30s, every 15m, every 6h or every 1d; the least is 1s)`,
    ]);
    expect(issues(client("  schedule: every 0s"))).toEqual([
      `${FILE}:5:13: client.schedule: interval 0s is shorter than 1s in "every 0s" (write every 30s, every 15m, every 6h or every 1d; the least is 1s)`,
    ]);
  });

  test("a server given as a bad host:port", () => {
    // Line 3 "  server: ...": the value starts at col 11.
    const withServer = (value: string) =>
      ["version: 1", "client:", `  server: ${value}`, `  serverKey: ${K1}`, "  key: ./client.key", "  paths: [/etc]", ""].join("\n");
    const hint = "write host or host:port, e.g. nas.lan, 192.0.2.10:7373 or [2001:db8::1]:7373";
    expect(issues(withServer("nas.lan:70000"))).toEqual([
      `${FILE}:3:11: client.server: port 70000 in "nas.lan:70000" is out of range 1-65535 (${hint})`,
    ]);
    expect(issues(withServer("nas.lan:0"))).toEqual([
      `${FILE}:3:11: client.server: port 0 in "nas.lan:0" is out of range 1-65535 (${hint})`,
    ]);
    expect(issues(withServer('"nas.lan:"'))).toEqual([`${FILE}:3:11: client.server: "nas.lan:" has no port after ":" (${hint})`]);
    expect(issues(withServer("nas.lan:http"))).toEqual([
      `${FILE}:3:11: client.server: port "http" in "nas.lan:http" is not a number (${hint})`,
    ]);
    expect(issues(withServer("nas lan"))).toEqual([`${FILE}:3:11: client.server: "nas lan" is not a host name or IP address (${hint})`]);
    expect(issues(withServer('"[nas]:7373"'))).toEqual([
      `${FILE}:3:11: client.server: "[nas]:7373": "nas" between brackets is not an IPv6 address (${hint})`,
    ]);
    expect(issues(withServer("999.1.1.1:7373"))).toEqual([
      `${FILE}:3:11: client.server: "999.1.1.1:7373" is not an IPv4 address: 999 is out of range 0-255 (${hint})`,
    ]);
    expect(issues(withServer('"[2001:db8::g]:7373"'))).toEqual([
      `${FILE}:3:11: client.server: "[2001:db8::g]:7373": "2001:db8::g" between brackets is not an IPv6 address: "g" is not a group of 1 to 4 hex digits (${hint})`,
    ]);
  });

  test("a path starting with ~", () => {
    // Line 7 "  paths: [~/docs]": the item starts at col 11.
    const text = [
      "version: 1",
      "client:",
      "  server: nas.lan",
      `  serverKey: ${K1}`,
      "  key: ./client.key",
      "  name: web01",
      "  paths: [~/docs]",
      "",
    ].join("\n");
    expect(issues(text)).toEqual([
      `${FILE}:7:11: client.paths[0]: "~/docs": ~ is not expanded (write the full path, e.g. /home/alice/docs)`,
    ]);
  });

  test("a source that is neither a path nor a mapping, and one with no usable name", () => {
    const text = [
      "version: 1", //         1
      "client:", //            2
      "  server: nas.lan", //  3
      `  serverKey: ${K1}`, // 4
      "  key: ./client.key", //5
      "  paths:", //           6
      "    - 5", //            7: item at col 7
      "    - /", //            8: item at col 7
      "    - path: /srv", //   9
      '      name: "!!!"', //  10: value at col 13
      "",
    ].join("\n");
    expect(issues(text)).toEqual([
      `${FILE}:7:7: client.paths[0]: expected a path or a mapping with path:, got 5 (write a path, or path: with optional name: and exclude:)`,
      `${FILE}:8:7: client.paths[1]: "/" makes no usable source name (add a name, e.g. "- path: /" with "name: root" below it)`,
      `${FILE}:10:13: client.paths[2].name: "!!!" has no letters or digits to make a name from (use a short name such as www; archive names carry it)`,
    ]);
  });
});

describe("names and keys", () => {
  test("two sources with one name: the second is pointed at, naming the first's line", () => {
    const text = [
      "version: 1", //               1
      "client:", //                  2
      "  server: nas.lan", //        3
      `  serverKey: ${K1}`, //       4
      "  key: ./client.key", //      5
      "  paths:", //                 6
      "    - /etc", //               7
      "    - /srv/www", //           8
      "    - path: /backup/etc", //  9: path value at col 13
      "    - path: /var/www", //     10
      "      name: WWW", //          11: name value at col 13
      "",
    ].join("\n");
    expect(issues(text)).toEqual([
      `${FILE}:9:13: client.paths[2].path: source name "etc" is already used by client.paths[0] (line 7) (give one of them another name with "name:")`,
      `${FILE}:11:13: client.paths[3].name: source name "www" is already used by client.paths[1] (line 8) (give one of them another name with "name:")`,
    ]);
  });

  test("a malformed ed25519 key: wrong prefix, wrong length, not base64", () => {
    const text = [
      "version: 1", //                                         1
      "client:", //                                            2
      "  server: nas.lan", //                                  3
      '  serverKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA"', // 4: value at col 14
      "  key: ./client.key", //                                5
      "  paths: [/etc]", //                                    6
      "server:", //                                            7
      "  key: ./server.key", //                                8
      "  clients:", //                                         9
      "    - name: web01", //                                  10
      "      key: ed25519:AAAA", //                            11: value at col 12
      "    - name: db01", //                                   12
      `      key: ed25519:${"!".repeat(43)}=`, //              13: value at col 12
      "",
    ].join("\n");
    const serverHint = 'paste the "ed25519:..." line that hashrelay keygen printed on the server';
    const clientHint = 'paste the "ed25519:..." line that hashrelay keygen printed on that client';
    expect(issues(text)).toEqual([
      `${FILE}:4:14: client.serverKey: "ssh-ed25519 AAAAC3NzaC1l..." does not start with "ed25519:" (${serverHint})`,
      `${FILE}:11:12: server.clients[0].key: the key has 4 characters after "ed25519:", expected 44 (${clientHint})`,
      `${FILE}:13:12: server.clients[1].key: the key after "ed25519:" is not valid base64 (${clientHint})`,
    ]);
  });

  test("two clients with one name or one key", () => {
    const text = [
      "version: 1", //           1
      "server:", //              2
      "  key: ./server.key", //  3
      "  clients:", //           4
      "    - name: web01", //    5
      `      key: ${K1}`, //     6
      "    - name: Web01", //    7: value at col 13
      `      key: ${K2}`, //     8
      "    - name: db01", //     9
      `      key: ${K1}`, //     10: value at col 12
      "",
    ].join("\n");
    expect(issues(text)).toEqual([
      `${FILE}:7:13: server.clients[1].name: client name "web01" is already used by server.clients[0] (line 5) (each client needs its own name)`,
      `${FILE}:10:12: server.clients[2].key: this key is already given to server.clients[0] (line 6) (each client has its own key: run hashrelay keygen on that client and paste the key it prints)`,
    ]);
  });
});

describe("key files, through FileFacts", () => {
  const text = [
    "version: 1", //                   1
    "client:", //                      2
    "  server: nas.lan", //            3
    `  serverKey: ${K1}`, //           4
    "  key: ./client.key", //          5: value at col 8
    "  paths: [/etc]", //              6
    "server:", //                      7
    "  key: /srv/keys/server.key", //  8: value at col 8
    "  clients:", //                   9
    "    - name: web01", //            10
    `      key: ${K2}`, //             11
    "",
  ].join("\n");
  const facts = (byPath: Record<string, KeyFileFact>): FileFacts & { asked: string[] } => {
    const asked: string[] = [];
    return { asked, statKeyFile: (p) => (asked.push(p), byPath[p] ?? { kind: "missing" }) };
  };

  test("missing, and readable by others", () => {
    const f = facts({ "/srv/keys/server.key": { kind: "ok", mode: 0o100644 } });
    expect(issues(text, { hostname: "h", facts: f })).toEqual([
      `${FILE}:5:8: client.key: private key /etc/hashrelay/client.key does not exist (create it with: hashrelay keygen --out /etc/hashrelay/client.key)`,
      `${FILE}:8:8: server.key: private key /srv/keys/server.key is readable by group or others (mode 0644) (chmod 600 /srv/keys/server.key)`,
    ]);
    expect(f.asked).toEqual(["/etc/hashrelay/client.key", "/srv/keys/server.key"]);
  });

  test("unreadable, and a folder", () => {
    const f = facts({
      "/etc/hashrelay/client.key": { kind: "unreadable", reason: "permission denied" },
      "/srv/keys/server.key": { kind: "ok", mode: 0o040700 },
    });
    expect(issues(text, { hostname: "h", facts: f })).toEqual([
      `${FILE}:5:8: client.key: private key /etc/hashrelay/client.key cannot be read: permission denied (make it readable by the user hashrelay runs as, then chmod 600 /etc/hashrelay/client.key)`,
      `${FILE}:8:8: server.key: private key /srv/keys/server.key is not a regular file (point server.key at the key file, or create one with: hashrelay keygen --out FILE)`,
    ]);
  });

  test("mode 0600 passes; without facts nothing is checked", () => {
    const ok = { kind: "ok", mode: 0o100600 } as const;
    expect(issues(text, { hostname: "h", facts: facts({ "/etc/hashrelay/client.key": ok, "/srv/keys/server.key": ok }) })).toEqual([]);
    expect(issues(text, { hostname: "h" })).toEqual([]);
  });
});

describe("every issue at once", () => {
  test("problems in both sections come back together, in file order", () => {
    const text = [
      "version: 1", //                        1
      "port: 0", //                           2: col 7
      "client:", //                           3
      "  server: nas.lan:99999", //           4: col 11
      "  serverKey: ed25519:short", //        5: col 14
      "  key: ./client.key", //               6
      '  schedule: "0 3 * * 9"', //           7: col 13
      "  paths: []", //                       8: col 10
      "server:", //                           9
      "  key: ./server.key", //               10
      "  retention: { trashFor: soon }", //   11: col 26
      "  clients:", //                        12
      "    - name: web01", //                 13
      `      key: ${K2}`, //                  14
      "    - name: web01", //                 15: col 13
      "      key: ed25519:x", //              16: col 12
      "",
    ].join("\n");
    const result = parseConfig(text, FILE, { hostname: "h" });
    const where = result.ok ? [] : result.issues.map((i) => `${i.line}:${i.col}: ${i.key}`);
    expect(where).toEqual([
      "2:7: port",
      "4:11: client.server",
      "5:14: client.serverKey",
      "7:13: client.schedule",
      "8:10: client.paths",
      "11:26: server.retention.trashFor",
      "15:13: server.clients[1].name",
      "16:12: server.clients[1].key",
    ]);
  });
});

describe("a valid config, normalized", () => {
  test("paths resolve against the config's folder; defaults fill the rest", () => {
    const text = [
      "version: 1",
      "client:",
      "  server: nas.lan",
      `  serverKey: ${K1}`,
      "  key: client.key",
      "  paths:",
      "    - /etc/",
      "    - path: ../www",
      "      name: My Site",
      '      exclude: ["*.log"]',
      "server:",
      "  key: ./keys/server.key",
      "  clients:",
      "    - name: Web01",
      `      key: ${K2}`,
      "",
    ].join("\n");
    const config = valid(text, { hostname: "Build Box" });
    expect(config.file).toBe(FILE);
    expect(config.dir).toBe("/etc/hashrelay");
    expect(config.hash).toBe(createHash("sha256").update(text).digest("hex"));
    expect(config.port).toBe(7373);
    const c = config.client!;
    expect(c.name).toBe("build-box");
    expect(c.server).toEqual({ host: "nas.lan", port: 7373 });
    expect(c.serverKeyText).toBe(K1);
    expect(Buffer.from(c.serverKey).toString("base64")).toBe(K1.slice(8));
    expect(c.key).toBe("/etc/hashrelay/client.key");
    expect(c.scheduleText).toBe("every 1h");
    expect(c.schedule).toEqual({ kind: "every", intervalMs: 3_600_000 });
    expect([c.timezone, c.splayMs, c.busyWindowMs]).toEqual([null, 0, null]);
    expect(c.state).toBe("/etc/hashrelay/state");
    expect(c.paths).toEqual([
      { path: "/etc", name: "etc", exclude: [], line: 7, col: 7 },
      { path: "/etc/www", name: "my-site", exclude: ["*.log"], line: 8, col: 7 },
    ]);
    const s = config.server!;
    expect(s.listen).toBe("0.0.0.0");
    expect(s.key).toBe("/etc/hashrelay/keys/server.key");
    expect(s.storage).toBe("/home/HashRelay-server/backup");
    expect(s.minFreeBytes).toBe(64 * 1024 * 1024);
    expect(s.scrubCycleMs).toBe(30 * 86_400_000);
    expect(s.retention).toEqual({
      keep: 1,
      trashForMs: 48 * 3_600_000,
      suspect: { maxShared: 0.1, ratioJump: 0.15, minRatio: 0.2, releaseAfter: 0 },
    });
    expect(s.clients.map((x) => [x.name, x.keyText, x.key.length, x.quotaBytes])).toEqual([["web01", K2, 32, null]]);
  });

  test("explicit values win: port, host:port, IPv6, cron, sizes", () => {
    const text = [
      "version: 1",
      "port: 9000",
      "client:",
      "  name: Web 01",
      '  server: "[2001:db8::1]:7400"',
      `  serverKey: ${K1}`,
      "  key: /k/client.key",
      '  schedule: " 0 3 * * * "',
      "  timezone: europe/paris",
      "  splay: 15m",
      "  busyWindow: 2h",
      "  state: /var/lib/hashrelay",
      "  paths: [/srv]",
      "server:",
      '  listen: "::"',
      "  key: /k/server.key",
      "  storage: /data/backup",
      "  minFree: 8MiB",
      "  retention: { keep: 3, trashFor: 7d }",
      "  clients: [{ name: web-01, key: " + K2 + ", quota: 50GiB }]",
      "",
    ].join("\n");
    const config = valid(text);
    expect(config.port).toBe(9000);
    expect(config.client!.name).toBe("web-01");
    expect(config.client!.server).toEqual({ host: "2001:db8::1", port: 7400 });
    expect(config.client!.scheduleText).toBe("0 3 * * *");
    expect(config.client!.schedule.kind).toBe("cron");
    // Spelled as the time zone data spells it.
    expect(config.client!.timezone).toBe("Europe/Paris");
    expect(config.client!.splayMs).toBe(15 * 60_000);
    expect(config.client!.busyWindowMs).toBe(2 * 3_600_000);
    expect(config.client!.state).toBe("/var/lib/hashrelay");
    expect(config.server!.listen).toBe("::");
    expect(config.server!.storage).toBe("/data/backup");
    expect(config.server!.minFreeBytes).toBe(8 * 1024 * 1024);
    expect(config.server!.clients[0]!.quotaBytes).toBe(50 * 1024 ** 3);
    expect(config.server!.retention).toMatchObject({ keep: 3, trashForMs: 7 * 86_400_000 });
  });

  test("a client server without a port takes the top-level port", () => {
    const text = `version: 1\nport: 8000\nclient:\n  server: 192.0.2.10\n  serverKey: ${K1}\n  key: k\n  paths: [/etc]\n`;
    expect(valid(text).client!.server).toEqual({ host: "192.0.2.10", port: 8000 });
  });

  test("server: auto is LAN discovery on the top-level port, not a host named auto", () => {
    const text = `version: 1\nport: 8000\nclient:\n  server: auto\n  serverKey: ${K1}\n  key: k\n  paths: [/etc]\n`;
    expect(valid(text).client!.server).toEqual({ host: "auto", port: 8000, auto: true });
    expect(valid(text.replace("server: auto", "server: auto.lan")).client!.server).toEqual({ host: "auto.lan", port: 8000 });
  });

  test("the hash changes with the text", () => {
    const text = `version: 1\nclient:\n  server: nas\n  serverKey: ${K1}\n  key: k\n  paths: [/etc]\n`;
    expect(valid(text).hash).not.toBe(valid(`${text}# comment\n`).hash);
  });
});
