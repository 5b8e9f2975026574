import { expect, test } from "bun:test";
import { parseHostPort } from "./host-port.ts";

test("host names, IPv4 and IPv6 addresses, with or without a port", () => {
  const cases: [string, { host: string; port?: number }][] = [
    ["nas.lan", { host: "nas.lan" }],
    ["nas.lan.", { host: "nas.lan." }],
    ["NAS-1.example.com:80", { host: "NAS-1.example.com", port: 80 }],
    ["localhost", { host: "localhost" }],
    ["1.2.3.4a", { host: "1.2.3.4a" }], // a name: its last label is not all digits
    ["0.0.0.0", { host: "0.0.0.0" }],
    ["192.0.2.10:7373", { host: "192.0.2.10", port: 7373 }],
    ["255.255.255.255", { host: "255.255.255.255" }],
    ["::", { host: "::" }],
    ["::1", { host: "::1" }],
    ["[::1]:7373", { host: "::1", port: 7373 }],
    ["2001:db8::1", { host: "2001:db8::1" }],
    ["1:2:3:4:5:6:7:8", { host: "1:2:3:4:5:6:7:8" }],
    ["1:2:3:4:5:6:7::", { host: "1:2:3:4:5:6:7::" }],
    ["fe80::1%eth0", { host: "fe80::1%eth0" }],
    ["[fe80::1%eth0]:7373", { host: "fe80::1%eth0", port: 7373 }],
    ["::ffff:192.0.2.1", { host: "::ffff:192.0.2.1" }],
  ];
  for (const [text, expected] of cases) expect({ text, ...parseHostPort(text) }).toEqual({ text, ok: true, ...expected });
});

test("what is neither is refused, saying why", () => {
  const cases: [string, string][] = [
    ["999.1.1.1", '"999.1.1.1" is not an IPv4 address: 999 is out of range 0-255'],
    ["1.2.3.256:7373", '"1.2.3.256:7373" is not an IPv4 address: 256 is out of range 0-255'],
    ["1.2.3", '"1.2.3" is not an IPv4 address: it needs four numbers 0-255'],
    ["1.2.3.4.5", '"1.2.3.4.5" is not an IPv4 address: it needs four numbers 0-255'],
    ["010.1.1.1", '"010.1.1.1" is not an IPv4 address: 010 has a leading zero (some programs read it as octal)'],
    ["-nas.lan", '"-nas.lan" is not a host name or IP address'],
    [`${"a".repeat(64)}.lan`, `"${"a".repeat(64)}.lan" is not a host name or IP address`],
    ["1::2::3", '"1::2::3" is not a host name or IP address: "::" may appear only once'],
    ["12345::1", '"12345::1" is not a host name or IP address: "12345" is not a group of 1 to 4 hex digits'],
    ["1:2:3:4:5:6:7:8:9", '"1:2:3:4:5:6:7:8:9" is not a host name or IP address: it has 9 groups; an address has 8, or fewer with "::"'],
    ["::1:2:3:4:5:6:7:8", '"::1:2:3:4:5:6:7:8" is not a host name or IP address: it has 8 groups; an address has 8, or fewer with "::"'],
    ["::ffff:999.0.2.1", '"::ffff:999.0.2.1" is not a host name or IP address: 999.0.2.1 is not an IPv4 address'],
    ["fe80::1%eth 0", '"fe80::1%eth 0" is not a host name or IP address: the zone after % is not an interface name'],
    ["[nas]:7373", '"[nas]:7373": "nas" between brackets is not an IPv6 address'],
  ];
  for (const [text, message] of cases) expect(parseHostPort(text)).toMatchObject({ ok: false, message });
});
