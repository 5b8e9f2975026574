// "host" / "host:port" / "[ipv6]:port" as written in client.server, server.listen and server.metrics.

export type HostPort = { ok: true; host: string; port?: number } | { ok: false; message: string; hint: string };

const HOST_PORT_HINT = "write host or host:port, e.g. nas.lan, 192.0.2.10:7373 or [2001:db8::1]:7373";
const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?$/;
const ZONE = /^[A-Za-z0-9_.-]+$/;

/**
 * Splits "host[:port]" and checks the host: an IPv4 address (four octets 0-255), an IPv6 address
 * (RFC 4291 text, optionally with a %zone) or a host name (labels of at most 63 characters, 253 in
 * all, the last not all digits). IPv6 needs brackets to carry a port ("[::1]:7373"); a bare IPv6
 * address is a host. Never throws.
 */
export function parseHostPort(text: string): HostPort {
  let host = text;
  let portText: string | undefined;
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(text);
  if (bracketed) {
    host = bracketed[1]!;
    portText = bracketed[2];
    const problem = ipv6Problem(host);
    const why = problem === true || !host.includes(":") ? "" : `: ${problem}`;
    if (problem) return bad(`"${text}": "${host}" between brackets is not an IPv6 address${why}`);
  } else if (text.split(":").length === 2) {
    [host, portText] = text.split(":") as [string, string];
  } else if (text.includes(":")) {
    const problem = ipv6Problem(text);
    if (problem) return bad(`"${text}" is not a host name or IP address${problem === true ? "" : `: ${problem}`}`);
    return { ok: true, host: text };
  }
  if (!bracketed) {
    const problem = hostProblem(host);
    if (problem) return bad(`"${text}" ${problem}`);
  }
  if (portText === undefined) return { ok: true, host };
  if (portText === "") return bad(`"${text}" has no port after ":"`);
  if (!/^[0-9]+$/.test(portText)) return bad(`port "${portText}" in "${text}" is not a number`);
  const port = Number(portText);
  if (port < 1 || port > 65535) return bad(`port ${portText} in "${text}" is out of range 1-65535`);
  return { ok: true, host, port };
}

/** What is wrong with a host name or IPv4 address, said after the quoted text; null when nothing is. */
function hostProblem(host: string): string | null {
  const labels = host.replace(/\.$/, "").split(".");
  if (host.length > 253 || !labels.every((l) => LABEL.test(l))) return "is not a host name or IP address";
  // A name's last label is never all digits (RFC 3696 §2): such a host is meant as an IPv4 address.
  if (!/^[0-9]+$/.test(labels.at(-1)!)) return null;
  if (labels.length !== 4 || !labels.every((l) => /^[0-9]+$/.test(l))) return "is not an IPv4 address: it needs four numbers 0-255";
  const octet = labels.find((l) => Number(l) > 255 || (l.length > 1 && l.startsWith("0")));
  if (octet === undefined) return null;
  return Number(octet) > 255
    ? `is not an IPv4 address: ${octet} is out of range 0-255`
    : `is not an IPv4 address: ${octet} has a leading zero (some programs read it as octal)`;
}

/** Null for a valid IPv6 address (with an optional %zone); else true, or a reason worth telling. */
function ipv6Problem(text: string): string | true | null {
  const [address, zone, extra] = text.split("%");
  if (extra !== undefined || (zone !== undefined && !ZONE.test(zone))) return "the zone after % is not an interface name";
  const halves = address!.split("::");
  if (halves.length > 2) return '"::" may appear only once';
  const groups = halves.map((h) => (h === "" ? [] : h.split(":")));
  const all = groups.flat();
  // An embedded IPv4 address (::ffff:192.0.2.1) stands last and counts as two groups.
  const last = all.at(-1);
  const v4 = last !== undefined && last.includes(".");
  if (v4 && hostProblem(last) !== null) return `${last} is not an IPv4 address`;
  const hex = v4 ? all.slice(0, -1) : all;
  const bad = hex.find((g) => !/^[0-9A-Fa-f]{1,4}$/.test(g));
  if (bad !== undefined) return bad === "" ? true : `"${bad}" is not a group of 1 to 4 hex digits`;
  const count = hex.length + (v4 ? 2 : 0);
  if (halves.length === 2 ? count > 7 : count !== 8) return `it has ${count} groups; an address has 8, or fewer with "::"`;
  return null;
}

function bad(message: string): HostPort {
  return { ok: false, message, hint: HOST_PORT_HINT };
}
