// "host" / "host:port" / "[ipv6]:port" as written in client.server and server.listen.

export type HostPort = { ok: true; host: string; port?: number } | { ok: false; message: string; hint: string };

const HOST_PORT_HINT = "write host or host:port, e.g. nas.lan, 192.0.2.10:7373 or [2001:db8::1]:7373";
const LABEL = "[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?";
const HOSTNAME = new RegExp(`^${LABEL}(?:\\.${LABEL})*\\.?$`);
const IPV6 = /^[0-9A-Fa-f:.]+(?:%[A-Za-z0-9_.-]+)?$/;

/** Splits "host[:port]"; IPv6 needs brackets to carry a port ("[::1]:7373"), a bare IPv6 address is a host. Never throws. */
export function parseHostPort(text: string): HostPort {
  let host = text;
  let portText: string | undefined;
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(text);
  if (bracketed) {
    host = bracketed[1]!;
    portText = bracketed[2];
    if (!host.includes(":") || !IPV6.test(host)) return bad(`"${text}": "${host}" between brackets is not an IPv6 address`);
  } else if (text.split(":").length === 2) {
    [host, portText] = text.split(":") as [string, string];
  } else if (text.includes(":")) {
    if (!IPV6.test(text)) return bad(`"${text}" is not a host name or IP address`);
    return { ok: true, host: text };
  }
  if (!bracketed && (host.length > 253 || !HOSTNAME.test(host))) return bad(`"${text}" is not a host name or IP address`);
  if (portText === undefined) return { ok: true, host };
  if (portText === "") return bad(`"${text}" has no port after ":"`);
  if (!/^[0-9]+$/.test(portText)) return bad(`port "${portText}" in "${text}" is not a number`);
  const port = Number(portText);
  if (port < 1 || port > 65535) return bad(`port ${portText} in "${text}" is out of range 1-65535`);
  return { ok: true, host, port };
}

function bad(message: string): HostPort {
  return { ok: false, message, hint: HOST_PORT_HINT };
}
