// Test helper: a real single-node Ceph (one monitor, one memstore OSD, radosgw on 127.0.0.1, cephx) in a temp folder.
//
// Started once per test file (~14 s here on 2 shared cores) from Debian's ceph-mon, ceph-osd and radosgw
// (build/provision.sh installs them). Every daemon runs in the foreground as a child of the test, in a
// process group of its own; stop() ends the groups and removes the folder, and so does the test
// process's exit if a file ends without calling it.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import type { S3Credentials } from "../io/s3-signing.ts";

/** A running cluster with one S3 user. */
export interface CephRgw {
  /** http://127.0.0.1:PORT (radosgw, beast frontend). */
  endpoint: string;
  /** The region to sign with: RGW's default zonegroup. */
  region: string;
  credentials: S3Credentials;
  folder: string;
  /** Seconds from the first command to the first answered S3 request. */
  startSeconds: number;
  /** Runs radosgw-admin with `args` against this cluster; returns its stdout, throws on failure. */
  admin(args: readonly string[]): string;
  /** Faults: kills radosgw (the store is down: connections refused) and waits for its exit. */
  killGateway(): Promise<void>;
  /** Starts radosgw again after killGateway; resolves on its first answer. */
  restartGateway(): Promise<void>;
  /** Faults: stops (true, SIGSTOP: the store is silent, connections hang) or resumes (false, SIGCONT) radosgw. */
  pauseGateway(paused: boolean): void;
  /** Kills every daemon (its process group), waits for them to exit, removes the folder. Idempotent. */
  stop(): Promise<void>;
}

const COMMANDS = ["ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "ceph", "ceph-authtool", "monmaptool"];
/** A start that takes longer than this has failed (it takes ~14 s on 2 shared cores). */
const START_DEADLINE_MS = 90_000;

/**
 * Starts a cluster, or returns null after printing a SKIPPED banner when this machine has no Ceph or
 * it cannot start (the reason and the log tail are printed): the tests then count as skipped, never
 * as passed, and a machine that cannot run Ceph does not fail the suite (issue 19's rule).
 */
export async function startCephRgw(): Promise<CephRgw | null> {
  const missing = COMMANDS.filter((command) => spawnSync("sh", ["-c", `command -v ${command}`]).status !== 0);
  if (missing.length > 0) {
    banner(`no Ceph here (missing ${missing.join(", ")}); build/provision.sh installs it`);
    return null;
  }
  const cluster = new Cluster(fs.mkdtempSync(path.join(os.tmpdir(), "hashrelay-ceph-")));
  try {
    return await cluster.start();
  } catch (err) {
    const logs = cluster.logTail();
    await cluster.stop();
    banner(`Ceph did not start: ${(err as Error).message}\n${logs}`);
    return null;
  }
}

function banner(why: string): void {
  console.warn(`\n*** SKIPPED: tests against a real Ceph RGW: ${why} ***\n`);
}

/** One cluster's folder, config and daemons. */
class Cluster {
  private readonly daemons: ChildProcess[] = [];
  private readonly conf: string;
  private readonly onExit = () => this.killNow();
  private stopped = false;

  constructor(readonly folder: string) {
    this.conf = path.join(folder, "ceph.conf");
    process.on("exit", this.onExit);
  }

  async start(): Promise<CephRgw> {
    const began = performance.now();
    const [monPort, rgwPort] = [await freePort(), await freePort()];
    for (const sub of ["mon", "osd", "log", "run", "rgw"]) fs.mkdirSync(path.join(this.folder, sub));
    const fsid = randomUUID();
    fs.writeFileSync(this.conf, clusterConfig(this.folder, fsid, monPort, rgwPort));
    this.makeMonitor(fsid, monPort);
    this.daemon("ceph-mon", ["-i", "a"]);
    this.run("ceph", ["-s", "--connect-timeout", "30"]); // answers once the monitor has formed a quorum
    this.makeOsd();
    this.daemon("ceph-osd", ["-i", "0"]);
    this.run("ceph", [
      "auth",
      "get-or-create",
      "client.rgw",
      "mon",
      "allow rw",
      "osd",
      "allow rwx",
      "-o",
      path.join(this.folder, "rgw.keyring"),
    ]);
    this.startGateway();
    const user = JSON.parse(this.admin(["user", "create", "--uid=hashrelay-test", "--display-name=HashRelay test"]));
    const endpoint = `http://127.0.0.1:${rgwPort}`;
    await this.firstAnswer(endpoint, began + START_DEADLINE_MS);
    return {
      endpoint,
      region: "default",
      credentials: { accessKeyId: user.keys[0].access_key, secretAccessKey: user.keys[0].secret_key },
      folder: this.folder,
      startSeconds: (performance.now() - began) / 1000,
      admin: (args) => this.admin(args),
      killGateway: async () => {
        const gateway = this.daemons.pop()!;
        signalGroup(gateway, "SIGKILL");
        await ended(gateway);
      },
      restartGateway: async () => {
        this.startGateway();
        await this.firstAnswer(endpoint, performance.now() + START_DEADLINE_MS);
      },
      pauseGateway: (paused) => signalGroup(this.daemons.at(-1)!, paused ? "SIGSTOP" : "SIGCONT"),
      stop: () => this.stop(),
    };
  }

  /** Starts radosgw, always the last of the daemons. */
  private startGateway(): void {
    this.daemon("radosgw", ["-n", "client.rgw", "--keyring", path.join(this.folder, "rgw.keyring")]);
  }

  /** radosgw-admin against this cluster (it waits for the OSD to take writes). */
  admin(args: readonly string[]): string {
    return this.run("radosgw-admin", args);
  }

  /** The last lines of every daemon's log, for a failure report. */
  logTail(): string {
    const logs = path.join(this.folder, "log");
    if (!fs.existsSync(logs)) return "";
    return fs
      .readdirSync(logs)
      .map((name) => `--- ${name}\n${fs.readFileSync(path.join(logs, name), "utf8").split("\n").slice(-15).join("\n")}`)
      .join("\n");
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    // KILL, not TERM: the data is a test's, in memory, and radosgw takes ~10 s to end on TERM.
    const exits = this.daemons.map((child) => ended(child));
    for (const child of this.daemons) signalGroup(child, "SIGKILL");
    await Promise.all(exits);
    process.off("exit", this.onExit);
    fs.rmSync(this.folder, { recursive: true, force: true });
  }

  /** At the test process's exit (a file that never called stop): KILL every group, remove the folder. */
  private killNow(): void {
    for (const child of this.daemons) signalGroup(child, "SIGKILL");
    if (!this.stopped) fs.rmSync(this.folder, { recursive: true, force: true });
  }

  private makeMonitor(fsid: string, monPort: number): void {
    const keyring = path.join(this.folder, "keyring");
    this.run("ceph-authtool", ["--create-keyring", keyring, "--gen-key", "-n", "mon.", "--cap", "mon", "allow *"], false);
    const admin = ["--gen-key", "-n", "client.admin", "--cap", "mon", "allow *", "--cap", "osd", "allow *", "--cap", "mgr", "allow *"];
    this.run("ceph-authtool", [keyring, ...admin], false);
    const monmap = path.join(this.folder, "monmap");
    this.run("monmaptool", ["--create", "--add", "a", `127.0.0.1:${monPort}`, "--fsid", fsid, monmap], false);
    this.run("ceph-mon", ["--mkfs", "-i", "a", "--monmap", monmap, "--keyring", keyring]);
  }

  private makeOsd(): void {
    this.run("ceph", ["osd", "create"]);
    this.run("ceph-osd", ["--no-mon-config", "-i", "0", "--mkfs", "--mkkey", "--osd-uuid", randomUUID()]);
    const osdKeyring = path.join(this.folder, "osd", "keyring");
    this.run("ceph", ["auth", "add", "osd.0", "osd", "allow *", "mon", "allow profile osd", "-i", osdKeyring]);
  }

  /** Runs a setup command to its end; throws with its stderr when it fails. */
  private run(command: string, args: readonly string[], withConf = true): string {
    const full = withConf ? ["-c", this.conf, ...args] : [...args];
    const done = spawnSync(command, full, { encoding: "utf8", timeout: 60_000 });
    if (done.status !== 0) {
      throw new Error(
        `${command} ${args.join(" ")} failed (${done.status ?? done.signal}): ${(done.stderr || done.error?.message || "").trim()}`,
      );
    }
    return done.stdout;
  }

  /** Starts a daemon in the foreground, in its own process group, its output in log/NAME.out. */
  private daemon(command: string, args: readonly string[]): void {
    const out = fs.openSync(path.join(this.folder, "log", `${command}.out`), "a");
    const child = spawn(command, ["-c", this.conf, "-f", ...args], { detached: true, stdio: ["ignore", out, out] });
    fs.closeSync(out);
    this.daemons.push(child);
  }

  /** Resolves on the first HTTP answer of `endpoint`; a refused connection is tried again until `deadline`. */
  private async firstAnswer(endpoint: string, deadline: number): Promise<void> {
    for (;;) {
      const exited = this.daemons.find((child) => child.exitCode !== null || child.signalCode !== null);
      if (exited) throw new Error(`${exited.spawnfile} exited (${exited.exitCode ?? exited.signalCode})`);
      try {
        await fetch(endpoint, { signal: AbortSignal.timeout(5_000) });
        return;
      } catch (err) {
        if (performance.now() > deadline) throw new Error(`radosgw gave no answer on ${endpoint}: ${(err as Error).message}`);
        await Bun.sleep(100); // the listener is not up yet: try again
      }
    }
  }
}

function clusterConfig(folder: string, fsid: string, monPort: number, rgwPort: number): string {
  return `[global]
fsid = ${fsid}
mon host = v2:127.0.0.1:${monPort}
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon allow pool delete = true
osd crush chooseleaf type = 0
# a killed radosgw stays a watcher of its control objects until this runs out, and a bucket change
# made by its successor waits for it (30 s by default)
osd client watch timeout = 10
osd objectstore = memstore
memstore device bytes = 1073741824
run dir = ${folder}/run
log file = ${folder}/log/$name.log
admin socket = ${folder}/run/$name.asok
keyring = ${folder}/keyring
mon data avail warn = 1
mon data avail crit = 0
ms bind ipv4 = true
public addr = 127.0.0.1
[mon.a]
mon data = ${folder}/mon
[osd.0]
osd data = ${folder}/osd
keyring = ${folder}/osd/keyring
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:${rgwPort}
rgw data = ${folder}/rgw
rgw dns name = localhost
`;
}

/** A TCP port free on 127.0.0.1 right now (the kernel's pick). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

function ended(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // the group is gone already
  }
}
