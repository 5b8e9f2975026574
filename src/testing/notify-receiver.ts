// Test helper: a python3 AF_UNIX datagram socket playing systemd's NOTIFY_SOCKET, recording every message.
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { tempDir } from "./e2e-harness.ts";

// Binds the socket (a path, or "@name" for an abstract name), says "bound", then prints each datagram as
// one JSON line with the sender's pid (SO_PASSCRED, as systemd reads it). Ancillary fds (systemd-notify's
// BARRIER=1) are closed at once, which releases the sender.
const SCRIPT = String.raw`
import json, os, socket, struct, sys
name = sys.argv[1]
addr = "\0" + name[1:] if name.startswith("@") else name
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind(addr)
print(json.dumps({"bound": True}), flush=True)
while True:
    data, anc, flags, _ = s.recvmsg(65536, socket.CMSG_SPACE(64 * 4) + socket.CMSG_SPACE(12))
    pid = None
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack("iII", payload[:12])[0]
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            for fd in struct.unpack("%di" % (len(payload) // 4), payload[: len(payload) - len(payload) % 4]):
                os.close(fd)
    print(json.dumps({"pid": pid, "text": data.decode("utf-8", "replace")}), flush=True)
`;

export interface NotifyMessage {
  pid: number | null;
  /** The datagram: newline-separated KEY=value assignments. */
  text: string;
  /** The assignments as a map (a key sent twice in one datagram keeps the last value). */
  fields: Record<string, string>;
}

export interface NotifyReceiver {
  /** What to put in NOTIFY_SOCKET. */
  socket: string;
  messages: NotifyMessage[];
  /** Resolves with the first message (already received or to come) for which `match` is true. */
  waitFor(match: (m: NotifyMessage) => boolean, timeoutMs?: number): Promise<NotifyMessage>;
  close(): void;
}

/** Starts a receiver on a socket file in a temp folder, or on an abstract name when `abstract` is true. */
export async function startNotifyReceiver(opts: { abstract?: boolean } = {}): Promise<NotifyReceiver> {
  const socketName = opts.abstract
    ? `@hashrelay-test-notify-${process.pid}-${Math.random().toString(36).slice(2)}`
    : path.join(tempDir("notify"), "notify.sock");
  const child: ChildProcess = spawn("python3", ["-c", SCRIPT, socketName], { stdio: ["ignore", "pipe", "inherit"] });
  const messages: NotifyMessage[] = [];
  let bound: () => void = () => undefined;
  const boundPromise = new Promise<void>((resolve) => (bound = resolve));
  let pending = "";
  child.stdout!.on("data", (chunk: Buffer) => {
    pending += chunk.toString();
    let nl: number;
    while ((nl = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      const parsed = JSON.parse(line) as { bound?: boolean; pid?: number | null; text?: string };
      if (parsed.bound) {
        bound();
        continue;
      }
      const text = parsed.text ?? "";
      const fields: Record<string, string> = {};
      for (const assignment of text.split("\n")) {
        const eq = assignment.indexOf("=");
        if (eq > 0) fields[assignment.slice(0, eq)] = assignment.slice(eq + 1);
      }
      messages.push({ pid: parsed.pid ?? null, text, fields });
    }
  });
  const exited = new Promise<never>((_, reject) =>
    child.once("exit", (code) => reject(new Error(`python3 notify receiver exited (${code})`))),
  );
  await Promise.race([boundPromise, exited]);
  exited.catch(() => undefined);
  return {
    socket: socketName,
    messages,
    waitFor: async (match, timeoutMs = 15_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = messages.find(match);
        if (found) return found;
        if (Date.now() > deadline)
          throw new Error(
            `no notify message matched within ${timeoutMs} ms; got:\n${messages.map((m) => JSON.stringify(m.text)).join("\n")}`,
          );
        await Bun.sleep(20);
      }
    },
    close: () => {
      child.kill("SIGKILL");
    },
  };
}
