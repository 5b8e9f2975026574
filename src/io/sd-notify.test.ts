// sd_notify against a python3 AF_UNIX datagram receiver: socket files, abstract names, the systemd-notify fallback, the watchdog.
import { afterEach, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { createNotifier, notifySocketAddress } from "./sd-notify.ts";
import { startNotifyReceiver, type NotifyReceiver } from "../testing/notify-receiver.ts";

let receiver: NotifyReceiver | null = null;
afterEach(() => {
  receiver?.close();
  receiver = null;
});

describe("notifySocketAddress", () => {
  test("a path is NUL-terminated after the 2-byte family; an abstract name starts with NUL and has no terminator", () => {
    const p = notifySocketAddress("/run/systemd/notify")!;
    expect(p.length).toBe(2 + "/run/systemd/notify".length + 1);
    expect(new DataView(p.addr.buffer).getUint16(0, true)).toBe(1);
    expect(Buffer.from(p.addr.subarray(2, p.length)).toString("latin1")).toBe("/run/systemd/notify\0");
    const a = notifySocketAddress("@abc")!;
    expect(a.length).toBe(2 + 1 + 3);
    expect(Buffer.from(a.addr.subarray(2, a.length)).toString("latin1")).toBe("\0abc");
  });

  test("relative paths, vsock addresses and names too long for sun_path are refused", () => {
    expect(notifySocketAddress("notify")).toBeNull();
    expect(notifySocketAddress("vsock:2:1234")).toBeNull();
    expect(notifySocketAddress("/" + "x".repeat(107))).toBeNull();
    expect(notifySocketAddress("/" + "x".repeat(106))).not.toBeNull();
  });
});

describe("createNotifier", () => {
  test("without NOTIFY_SOCKET nothing is sent and nothing throws", () => {
    const notifier = createNotifier({});
    expect(notifier.active).toBe(false);
    expect(notifier.transport).toBe("none");
    expect(notifier.send(["READY=1"])).toBe(false);
    notifier.ready("x");
    expect(notifier.startWatchdog()).toBeInstanceOf(Function);
  });

  test("READY=1 and STATUS= reach a socket file through libc, sent by this very process", async () => {
    receiver = await startNotifyReceiver();
    const notifier = createNotifier({ NOTIFY_SOCKET: receiver.socket }, { transport: "socket" });
    expect(notifier.transport).toBe("socket");
    notifier.ready("Server: Up since 12:00\nsecond line");
    notifier.status("Serving 2 clients");
    notifier.stopping();
    const ready = await receiver.waitFor((m) => m.fields.READY === "1");
    expect(ready.fields.STATUS).toBe("Server: Up since 12:00 second line");
    expect(ready.pid).toBe(process.pid);
    await receiver.waitFor((m) => m.fields.STATUS === "Serving 2 clients");
    await receiver.waitFor((m) => m.fields.STOPPING === "1");
    expect(receiver.messages.map((m) => Object.keys(m.fields)[0])).toEqual(["READY", "STATUS", "STOPPING"]);
  });

  test("an abstract socket name (@name) works too", async () => {
    receiver = await startNotifyReceiver({ abstract: true });
    expect(receiver.socket.startsWith("@")).toBe(true);
    const notifier = createNotifier({ NOTIFY_SOCKET: receiver.socket }, { transport: "socket" });
    notifier.ready();
    notifier.reloading();
    await receiver.waitFor((m) => m.text === "READY=1");
    const reloading = await receiver.waitFor((m) => m.fields.RELOADING === "1");
    expect(Number(reloading.fields.MONOTONIC_USEC)).toBeGreaterThan(0);
  });

  const hasSystemdNotify = spawnSync("systemd-notify", ["--help"], { stdio: "ignore" }).status === 0;
  test.skipIf(!hasSystemdNotify)("the systemd-notify fallback carries the same messages (path and abstract sockets)", async () => {
    for (const abstract of [false, true]) {
      receiver?.close();
      receiver = await startNotifyReceiver({ abstract });
      const notifier = createNotifier({ NOTIFY_SOCKET: receiver.socket, PATH: process.env.PATH }, { transport: "systemd-notify" });
      expect(notifier.transport).toBe("systemd-notify");
      notifier.ready("starting");
      notifier.status("Server: Down since 12:05 (connection refused)");
      const ready = await receiver.waitFor((m) => m.fields.READY === "1");
      expect(ready.fields.STATUS).toBe("starting");
      await receiver.waitFor((m) => m.fields.STATUS === "Server: Down since 12:05 (connection refused)");
    }
  });

  test("a missing systemd-notify makes send return false, never throw", () => {
    const notifier = createNotifier(
      { NOTIFY_SOCKET: "/nonexistent/notify" },
      { transport: "systemd-notify", systemdNotify: "/nonexistent/systemd-notify" },
    );
    expect(notifier.send(["READY=1"])).toBe(false);
  });

  test("WATCHDOG=1 is sent at half of WATCHDOG_USEC, only when WATCHDOG_PID is this process, and stops when asked", async () => {
    receiver = await startNotifyReceiver();
    const other = createNotifier({ NOTIFY_SOCKET: receiver.socket, WATCHDOG_USEC: "1000000", WATCHDOG_PID: String(process.pid + 1) });
    expect(other.watchdogMs).toBeNull();
    const notifier = createNotifier({ NOTIFY_SOCKET: receiver.socket, WATCHDOG_USEC: "1000000", WATCHDOG_PID: String(process.pid) });
    expect(notifier.watchdogMs).toBe(1000);
    const started = Date.now();
    const stop = notifier.startWatchdog();
    await Bun.sleep(1300);
    stop();
    const pings = receiver.messages.filter((m) => m.text === "WATCHDOG=1").length;
    // one at once, then every 500 ms: 3 within 1.3 s (2 or 4 on a loaded machine, never 0 or 1)
    expect(pings).toBeGreaterThanOrEqual(2);
    expect(pings).toBeLessThanOrEqual(4);
    await Bun.sleep(700);
    expect(receiver.messages.filter((m) => m.text === "WATCHDOG=1").length).toBe(pings);
    expect(Date.now() - started).toBeGreaterThan(1900);
  });
});
