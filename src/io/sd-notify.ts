// sd_notify without a library: datagrams to $NOTIFY_SOCKET through libc (bun:ffi), `systemd-notify` as fallback.
import { spawnSync } from "node:child_process";
import { openLibc } from "./libc.ts";

/** What a daemon tells systemd (sd_notify(3)); every method is a no-op when not started by systemd with Type=notify. */
export interface ServiceNotifier {
  /** True when $NOTIFY_SOCKET was set. */
  readonly active: boolean;
  /** How messages travel: "socket" (libc via FFI), "systemd-notify" (fallback), or "none". */
  readonly transport: "socket" | "systemd-notify" | "none";
  /** READY=1, with a first STATUS= line when given. */
  ready(status?: string): void;
  /** STATUS=<text> (one line; newlines become spaces). */
  status(text: string): void;
  /** RELOADING=1 (with MONOTONIC_USEC=), for a reload in progress; send ready() when it is done. */
  reloading(): void;
  /** STOPPING=1. */
  stopping(): void;
  /** Starts WATCHDOG=1 pings at half of $WATCHDOG_USEC while the event loop runs; returns the stopper. No-op without a watchdog. */
  startWatchdog(): () => void;
  /** The watchdog timeout systemd gave this process ($WATCHDOG_USEC for $WATCHDOG_PID), or null. */
  readonly watchdogMs: number | null;
  /** Sends raw assignments ("KEY=value" lines); false when nothing could be sent. Never throws. */
  send(lines: string[]): boolean;
}

export interface NotifierOptions {
  /** Force a transport (tests): "socket" refuses to fall back, "systemd-notify" skips FFI. */
  transport?: "socket" | "systemd-notify";
  /** The systemd-notify executable (default: found on PATH). */
  systemdNotify?: string;
}

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const MSG_NOSIGNAL = 0x4000;
/** sizeof(struct sockaddr_un) on Linux: sa_family_t (2 bytes) + sun_path[108]. */
const SOCKADDR_UN_SIZE = 110;
const SUN_PATH_MAX = 108;

/** One AF_UNIX datagram socket opened through libc; null when libc cannot be loaded. */
interface LibcSocket {
  send(addr: Uint8Array, addrLength: number, message: Uint8Array): boolean;
}

let libcSocket: LibcSocket | null | undefined;

function openLibcSocket(): LibcSocket | null {
  if (libcSocket !== undefined) return libcSocket;
  libcSocket = null;
  const lib = openLibc({
    socket: { args: ["i32", "i32", "i32"], returns: "i32" },
    sendto: { args: ["i32", "buffer", "usize", "i32", "buffer", "u32"], returns: "i64" },
  });
  // no C library: the systemd-notify fallback
  if (!lib) return null;
  const fd = lib.symbols.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return null;
  libcSocket = {
    send: (addr, addrLength, message) =>
      Number(lib.symbols.sendto(fd, message, message.length, MSG_NOSIGNAL, addr, addrLength)) === message.length,
  };
  return libcSocket;
}

/**
 * struct sockaddr_un for $NOTIFY_SOCKET: a path, or "@name" for an abstract name (leading NUL, no
 * terminator). Returns null for anything else (e.g. vsock:), which the fallback may still handle.
 */
export function notifySocketAddress(socketPath: string): { addr: Uint8Array; length: number } | null {
  const abstract = socketPath.startsWith("@");
  if (!abstract && !socketPath.startsWith("/")) return null;
  const name = Buffer.from(abstract ? socketPath.slice(1) : socketPath, "utf8");
  if (name.length + 1 > SUN_PATH_MAX) return null;
  const addr = new Uint8Array(SOCKADDR_UN_SIZE);
  new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
  addr.set(name, abstract ? 3 : 2);
  // An abstract address is exactly as long as its name; a path is NUL-terminated.
  return { addr, length: 2 + 1 + name.length };
}

/** A notifier for this process, reading NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from `env`. */
export function createNotifier(env: NodeJS.ProcessEnv = process.env, options: NotifierOptions = {}): ServiceNotifier {
  const socketPath = env.NOTIFY_SOCKET;
  const watchdogUsec = Number(env.WATCHDOG_USEC);
  const watchdogForUs = env.WATCHDOG_PID === undefined || Number(env.WATCHDOG_PID) === process.pid;
  const watchdogMs = socketPath && watchdogForUs && Number.isFinite(watchdogUsec) && watchdogUsec > 0 ? watchdogUsec / 1000 : null;

  let transport: ServiceNotifier["transport"] = "none";
  let sendLines: (lines: string[]) => boolean = () => false;
  if (socketPath) {
    const address = notifySocketAddress(socketPath);
    const libc = options.transport === "systemd-notify" || !address ? null : openLibcSocket();
    if (libc && address) {
      transport = "socket";
      sendLines = (lines) => libc.send(address.addr, address.length, Buffer.from(lines.join("\n"), "utf8"));
    } else if (options.transport !== "socket") {
      transport = "systemd-notify";
      const command = options.systemdNotify ?? "systemd-notify";
      sendLines = (lines) => {
        const result = spawnSync(command, lines, { env: { ...env, NOTIFY_SOCKET: socketPath }, stdio: "ignore", timeout: 5000 });
        return result.status === 0;
      };
    }
  }

  const send = (lines: string[]): boolean => {
    try {
      return sendLines(lines);
    } catch {
      return false;
    }
  };
  const oneLine = (text: string) => text.replace(/[\r\n]+/g, " ");
  return {
    active: Boolean(socketPath),
    transport,
    watchdogMs,
    send,
    ready: (status) => void send(status === undefined ? ["READY=1"] : ["READY=1", `STATUS=${oneLine(status)}`]),
    status: (text) => void send([`STATUS=${oneLine(text)}`]),
    reloading: () => void send(["RELOADING=1", `MONOTONIC_USEC=${monotonicUsec()}`]),
    stopping: () => void send(["STOPPING=1"]),
    startWatchdog: () => {
      if (watchdogMs === null) return () => undefined;
      send(["WATCHDOG=1"]);
      const timer = setInterval(() => send(["WATCHDOG=1"]), Math.max(500, Math.floor(watchdogMs / 2)));
      timer.unref();
      return () => clearInterval(timer);
    },
  };
}

/** CLOCK_MONOTONIC in microseconds, as RELOADING=1 wants it (process.hrtime is CLOCK_MONOTONIC on Linux). */
function monotonicUsec(): string {
  return (process.hrtime.bigint() / 1000n).toString();
}
