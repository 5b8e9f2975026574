// Test helper: a minimal Debian root (debootstrap, cached as a tarball) booted with systemd-nspawn, driven through nsenter; two may share a private link.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { childrenOf } from "./process-children.ts";

/** Bump to rebuild every cached root (e.g. when the clean-up changes; the package list is part of the cache key). */
export const ROOTFS_VERSION = "1";
/**
 * What the container needs beyond minbase: systemd as PID 1, dbus for systemctl, procps for /bin/kill
 * (ExecReload=); then what dependencies/install.sh needs (pkg-auto-install finds it present and installs
 * nothing): sudo, ssh and sshd, python3 (the one-shot key download), ufw, iproute2 (ss). One root serves
 * both container tests, so a machine without the cache runs debootstrap once.
 */
export const ROOTFS_PACKAGES = [
  "systemd",
  "systemd-sysv",
  "dbus",
  "procps",
  "sudo",
  "openssh-client",
  "openssh-server",
  "python3",
  "ufw",
  "iproute2",
];
export const CACHE_DIR = "/var/cache/hashrelay-tests";

const COMMANDS = ["systemd-nspawn", "debootstrap", "unshare", "nsenter", "tar", "zstd", "mount"];
const CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The Debian suite of this host and the mirror apt uses for it (from /etc/apt/sources.list*), or why not. */
export function hostMirror(): { suite: string; mirror: string } | { error: string } {
  let suite: string | undefined;
  try {
    suite = /^VERSION_CODENAME=(\S+)$/m.exec(fs.readFileSync("/etc/os-release", "utf8"))?.[1];
  } catch {
    // no os-release
  }
  if (!suite) return { error: "no VERSION_CODENAME in /etc/os-release" };
  const files = ["/etc/apt/sources.list"];
  try {
    for (const f of fs.readdirSync("/etc/apt/sources.list.d").sort()) files.push(path.join("/etc/apt/sources.list.d", f));
  } catch {
    // no sources.list.d
  }
  for (const file of files) {
    let text: string;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch {
      continue;
    }
    if (file.endsWith(".sources")) {
      // deb822 stanzas: Types, URIs, Suites
      for (const stanza of text.split(/\n\s*\n/)) {
        const field = (name: string) => new RegExp(`^${name}:\\s*(.+)$`, "mi").exec(stanza)?.[1]?.trim().split(/\s+/) ?? [];
        if (/^enabled:\s*no/im.test(stanza)) continue;
        if (field("Types").includes("deb") && field("Suites").includes(suite) && field("URIs")[0])
          return { suite, mirror: field("URIs")[0]! };
      }
    } else if (file.endsWith(".list")) {
      for (const line of text.split("\n")) {
        const m = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line);
        if (m && m[2] === suite) return { suite, mirror: m[1]! };
      }
    }
  }
  return { error: `no apt source for ${suite} in /etc/apt/sources.list*` };
}

/** Why this machine cannot boot a container for the test, or null when it can try. */
export function nspawnUnavailable(): string | null {
  if (process.getuid?.() !== 0) return "the test must run as root (debootstrap and systemd-nspawn)";
  const missing = COMMANDS.filter((c) => spawnSync("sh", ["-c", `command -v ${c}`], { stdio: "ignore" }).status !== 0);
  if (missing.length > 0) return `missing commands: ${missing.join(", ")} (build/provision.sh installs them; npm test runs it)`;
  const mirror = hostMirror();
  return "error" in mirror ? mirror.error : null;
}

function run(command: string, args: string[], opts: { timeoutMs?: number } = {}): string {
  const result = spawnSync(command, args, { encoding: "utf8", timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0)
    throw new Error(`${command} ${args.join(" ")} failed (${result.status ?? result.signal}):\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

/**
 * The cached root tarball, built on first use with debootstrap (minbase + ROOTFS_PACKAGES) from the
 * host's own mirror. Returns its path and whether it was built now. Throws with debootstrap's log on failure.
 */
export function cachedRootfs(packages: string[] = ROOTFS_PACKAGES): { tarball: string; built: boolean; seconds: number } {
  const source = hostMirror();
  if ("error" in source) throw new Error(source.error);
  const arch = run("dpkg", ["--print-architecture"]).trim();
  const key = createHash("sha256")
    .update(JSON.stringify([ROOTFS_VERSION, packages, source]))
    .digest("hex")
    .slice(0, 12);
  const tarball = path.join(CACHE_DIR, `rootfs-${source.suite}-${arch}-v${ROOTFS_VERSION}-${key}.tar.zst`);
  if (fs.existsSync(tarball)) return { tarball, built: false, seconds: 0 };
  const started = Date.now();
  fs.mkdirSync(CACHE_DIR, { recursive: true, mode: 0o755 });
  const work = fs.mkdtempSync(path.join(CACHE_DIR, "build-"));
  try {
    const root = path.join(work, "root");
    run("debootstrap", ["--variant=minbase", `--include=${packages.join(",")}`, source.suite, root, source.mirror], {
      timeoutMs: 900_000,
    });
    // What the test never reads: smaller tarball, faster extraction.
    for (const dir of ["usr/share/doc", "usr/share/man", "usr/share/locale", "usr/share/info", "var/cache/apt", "var/lib/apt/lists"]) {
      fs.rmSync(path.join(root, dir), { recursive: true, force: true });
    }
    run("tar", ["--zstd", "-C", root, "-cf", path.join(work, "rootfs.tar.zst"), "."], { timeoutMs: 300_000 });
    fs.renameSync(path.join(work, "rootfs.tar.zst"), tarball);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  return { tarball, built: true, seconds: (Date.now() - started) / 1000 };
}

export interface ExecResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** A command running inside a container in the background: its output so far, and its end. */
export interface BackgroundCommand {
  /** stdout and stderr so far, interleaved as they came. */
  output(): string;
  /** Resolves with the output once it matches `re`; rejects when the command ends first or after `timeoutMs`. */
  waitFor(re: RegExp, timeoutMs: number): Promise<string>;
  /** Resolves when the command ends (stdout and stderr apart; `output()` keeps both interleaved). */
  readonly exited: Promise<ExecResult>;
}

/**
 * Two network namespaces joined by a veth pair, each side addressed, for two containers booted into them:
 * a private link, with nothing routed to or from the host's network.
 */
export class PrivateLink {
  private constructor(readonly names: [string, string]) {}

  /** Creates `${name}-a` and `${name}-b` (`ip netns`), loopback up, the veth pair addressed with `a` and `b` (CIDR). */
  static create(name: string, a: string, b: string): PrivateLink {
    const link = new PrivateLink([`${name}-a`, `${name}-b`]);
    const veth = `hr${process.pid % 100_000}`;
    try {
      for (const ns of link.names) {
        run("ip", ["netns", "add", ns]);
        run("ip", ["-n", ns, "link", "set", "lo", "up"]);
      }
      run("ip", ["-n", link.names[0], "link", "add", `${veth}a`, "type", "veth", "peer", "name", `${veth}b`, "netns", link.names[1]]);
      for (const [i, address] of [a, b].entries()) {
        const ns = link.names[i]!;
        const dev = `${veth}${i === 0 ? "a" : "b"}`;
        run("ip", ["-n", ns, "addr", "add", address, "brd", "+", "dev", dev]);
        run("ip", ["-n", ns, "link", "set", dev, "up"]);
      }
    } catch (err) {
      link.remove();
      throw err;
    }
    return link;
  }

  /** The file systemd-nspawn joins for side 0 or 1 (Container.boot's `networkNamespace`). */
  namespacePath(side: 0 | 1): string {
    return `/run/netns/${this.names[side]}`;
  }

  /** Deletes both namespaces (the veth pair goes with them). Stop the containers first. */
  remove(): void {
    for (const ns of this.names) spawnSync("ip", ["netns", "del", ns], { stdio: "ignore" });
  }
}

/** A booted container: its root folder on the host, and commands run inside it. */
export class Container {
  private constructor(
    readonly root: string,
    private readonly nspawn: ChildProcess,
    private readonly initPid: number,
    private readonly console: () => string,
  ) {}

  /** Extracts `tarball` into a new temp folder and lets `prepare` write into it before boot. */
  static extract(tarball: string): string {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "hashrelay-nspawn-"));
    run("tar", ["--zstd", "-C", root, "-xpf", tarball], { timeoutMs: 300_000 });
    return root;
  }

  /**
   * Boots `root` with systemd-nspawn (not registered with machined), in a mount namespace of its own
   * whose /run is a fresh tmpfs (the host may not run systemd). The network is private and empty, or
   * `opts.networkNamespace` (e.g. PrivateLink.namespacePath). Resolves once the container's systemd
   * reports running or degraded.
   */
  static async boot(root: string, name: string, opts: { networkNamespace?: string } = {}): Promise<Container> {
    // The namespace file lives under /run, which the tmpfs hides: open it first, hand nspawn the descriptor.
    const script = [
      'if [ -n "$HASHRELAY_NETNS" ]; then exec 3<"$HASHRELAY_NETNS"; set -- --network-namespace-path=/proc/self/fd/3 "$@"; else set -- --private-network "$@"; fi',
      'mount -t tmpfs -o mode=0755 tmpfs /run && exec systemd-nspawn "$@"',
    ].join("\n");
    const args = [
      "--mount",
      "--propagation",
      "private",
      "sh",
      "-c",
      script,
      "sh",
      "-D",
      root,
      "--register=no",
      "--keep-unit",
      "-q",
      "-b",
      "--console=read-only",
      `--machine=${name}`,
    ];
    const nspawn = spawn("unshare", args, {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, HASHRELAY_NETNS: opts.networkNamespace ?? "" },
    });
    let output = "";
    nspawn.stdout!.on("data", (d: Buffer) => (output += d.toString()));
    nspawn.stderr!.on("data", (d: Buffer) => (output += d.toString()));
    const deadline = Date.now() + 60_000;
    let initPid: number | null = null;
    while (initPid === null) {
      if (nspawn.exitCode !== null || nspawn.signalCode !== null)
        throw new Error(`systemd-nspawn exited (${nspawn.exitCode ?? nspawn.signalCode}):\n${output}`);
      if (Date.now() > deadline) throw new Error(`the container's init never appeared:\n${output}`);
      initPid = childrenOf(nspawn.pid!).find((pid) => readComm(pid) === "systemd" && isNamespaceInit(pid)) ?? null;
      if (initPid === null) await Bun.sleep(50);
    }
    const container = new Container(root, nspawn, initPid, () => output);
    // systemctl answers only once PID 1 has set up its socket, and fails before that with one message or another
    // (a CI run saw one other than "Failed to connect to bus"): ask again until the boot is over or the deadline.
    // Then logins of users other than root must be allowed: /run/nologin ("System is booting up") is removed by
    // systemd-user-sessions, and a boot seen as over once raced it (an installer's SSH as the service user
    // refused). Starting that unit waits for it to have run; then the file must be gone.
    let last = "";
    for (;;) {
      if (nspawn.exitCode !== null || nspawn.signalCode !== null) {
        fs.rmSync(root, { recursive: true, force: true });
        throw new Error(`${tail(output)}\nsystemd-nspawn exited (${nspawn.exitCode ?? nspawn.signalCode}) during the boot; last: ${last}`);
      }
      const state = container.exec(["systemctl", "is-system-running", "--wait"], 90_000);
      const answer = state.stdout.trim();
      last = `is-system-running said "${answer}" (exit ${state.status}): ${state.stderr.trim()}`;
      if (["running", "degraded"].includes(answer)) {
        const sessions = container.exec(["systemctl", "start", "systemd-user-sessions.service"], 60_000);
        const left = container.exec(["test", "-e", "/run/nologin"]);
        if (sessions.status === 0 && left.status !== 0) return container;
        last = `booted, but logins are still refused: systemd-user-sessions exit ${sessions.status} ${sessions.stderr.trim()}, /run/nologin ${left.status === 0 ? "still there" : "gone"}`;
      }
      if (Date.now() > deadline) {
        await container.stop();
        throw new Error(`${tail(output)}\nthe container did not boot within 60 s; last: ${last}`);
      }
      await Bun.sleep(100);
    }
  }

  /** nsenter's command line for `command` inside the container (all its namespaces, its root), as root, with a clean environment. */
  private enter(command: string[]): string[] {
    const ns = ["-t", String(this.initPid), "-m", "-u", "-i", "-n", "-p", "-r", "-w", "--"];
    return [...ns, "/usr/bin/env", "-i", `PATH=${CONTAINER_PATH}`, "LANG=C.UTF-8", "SYSTEMD_COLORS=0", ...command];
  }

  /** Runs a command inside the container (all its namespaces, its root), as root, with a clean environment. */
  exec(command: string[], timeoutMs = 60_000): ExecResult {
    const result = spawnSync("nsenter", this.enter(command), { encoding: "utf8", timeout: timeoutMs });
    return { status: result.status, stdout: result.stdout ?? "", stderr: result.stderr ?? "" };
  }

  /** Starts a command inside the container, as exec does, without waiting for it (killed after `timeoutMs`). */
  start(command: string[], timeoutMs = 600_000): BackgroundCommand {
    const child = spawn("nsenter", this.enter(command), { stdio: ["ignore", "pipe", "pipe"], timeout: timeoutMs });
    let output = "";
    let stdout = "";
    let stderr = "";
    const watchers = new Set<() => void>();
    const seen = (chunk: Buffer, stream: "out" | "err") => {
      const text = chunk.toString();
      output += text;
      if (stream === "out") stdout += text;
      else stderr += text;
      for (const watcher of watchers) watcher();
    };
    child.stdout!.on("data", (d: Buffer) => seen(d, "out"));
    child.stderr!.on("data", (d: Buffer) => seen(d, "err"));
    const exited = new Promise<ExecResult>((resolve) =>
      child.once("close", (code, signal) => {
        resolve({ status: code ?? (signal ? null : 0), stdout, stderr });
        for (const watcher of watchers) watcher();
      }),
    );
    let ended = false;
    void exited.then(() => (ended = true));
    return {
      output: () => output,
      exited,
      waitFor: (re, waitMs) =>
        new Promise<string>((resolve, reject) => {
          const timer = setTimeout(() => done(new Error(`no ${re} within ${waitMs} ms:\n${output}`)), waitMs);
          const check = () => {
            if (re.test(output)) done(null);
            else if (ended || child.exitCode !== null || child.signalCode !== null)
              done(new Error(`the command ended before ${re}:\n${output}`));
          };
          const done = (err: Error | null) => {
            clearTimeout(timer);
            watchers.delete(check);
            if (err) reject(err);
            else resolve(output);
          };
          watchers.add(check);
          check();
        }),
    };
  }

  /** Like exec, without blocking the event loop (background commands keep reading their output meanwhile). */
  run(command: string[], timeoutMs = 600_000): Promise<ExecResult> {
    return this.start(command, timeoutMs).exited;
  }

  /** Like exec, but throws with the output unless the command exits 0. */
  sh(script: string, timeoutMs = 60_000): string {
    const result = this.exec(["sh", "-ec", script], timeoutMs);
    if (result.status !== 0) throw new Error(`in the container: ${script}\nexit ${result.status}\n${result.stdout}\n${result.stderr}`);
    return result.stdout;
  }

  /** What the container printed on its console so far (boot messages). */
  consoleOutput(): string {
    return this.console();
  }

  /** Powers the container off (killing nspawn after 30 s) and removes its root folder. */
  async stop(): Promise<void> {
    if (this.nspawn.exitCode === null && this.nspawn.signalCode === null) {
      const exited = new Promise<void>((resolve) => this.nspawn.once("exit", () => resolve()));
      // A container whose systemd does not take the order (still booting, say) is killed at once.
      const poweroff = this.exec(["systemctl", "--no-block", "poweroff"], 10_000);
      const timer = setTimeout(() => this.nspawn.kill("SIGKILL"), poweroff.status === 0 ? 30_000 : 0);
      await exited;
      clearTimeout(timer);
    }
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}

/** The last lines of a console's output: the reason printed after them stays in sight of a CI log's tail. */
function tail(output: string, lines = 40): string {
  return output.split("\n").slice(-lines).join("\n");
}

/** Whether `pid` is PID 1 of its own PID namespace (the container's init, not a child it forked before renaming it). */
function isNamespaceInit(pid: number): boolean {
  try {
    const line = fs.readFileSync(`/proc/${pid}/status`, "utf8").match(/^NSpid:\s*(.*)$/m)?.[1] ?? "";
    return line.trim().split(/\s+/).at(-1) === "1";
  } catch {
    return false;
  }
}

function readComm(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "";
  }
}
