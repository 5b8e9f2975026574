// End to end: a client running as an unprivileged user backs up root-only files through CAP_DAC_READ_SEARCH alone, as the unit runs it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { CAPABILITY_HINT } from "../client/capability-hint.ts";
import { ensureBinary, makeWorld, runBinary, startServer, type ServerProcess, type World } from "../testing/e2e-harness.ts";

const NOBODY = 65534;
const root = process.getuid?.() === 0;
const setpriv = spawnSync("setpriv", ["--version"], { stdio: "ignore" }).status === 0;
if (!root || !setpriv) console.error(`capability test not run: ${!root ? "needs root" : "setpriv missing (util-linux)"}`);

describe.skipIf(!root || !setpriv)("client as an unprivileged user", () => {
  let world: World;
  let server: ServerProcess;
  let secretDir: string;

  beforeAll(async () => {
    world = await makeWorld([]);
    secretDir = path.join(world.dir, "private");
    fs.mkdirSync(secretDir, { mode: 0o700 });
    fs.writeFileSync(path.join(secretDir, "shadow.txt"), "root only\n", { mode: 0o600 });
    fs.writeFileSync(world.clientConfig, fs.readFileSync(world.clientConfig, "utf8") + `    - ${JSON.stringify(secretDir)}\n`);
    // Only the state folder belongs to the service user, as StateDirectory= makes it; keys (0600) and config (0644) stay root's.
    fs.chmodSync(world.dir, 0o755);
    fs.chmodSync(world.clientConfig, 0o644);
    fs.mkdirSync(world.state, { mode: 0o700 });
    fs.chownSync(world.state, NOBODY, NOBODY);
    server = await startServer(world);
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
  });

  /** setpriv's arguments to run as uid/gid 65534, with or without CAP_DAC_READ_SEARCH in its ambient set. */
  function asNobody(withCapability: boolean): string[] {
    const caps = withCapability
      ? ["--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search", "--bounding-set=-all,+dac_read_search"]
      : ["--inh-caps=-all", "--bounding-set=-all"];
    return [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", ...caps, "--", ensureBinary()];
  }

  /** `hashrelay ARGS --config <client config>` as nobody (default: `client --once --json`). */
  function runAsNobody(withCapability: boolean, args = ["client", "--once", "--json"]) {
    const run = spawnSync("setpriv", [...asNobody(withCapability), ...args, "--config", world.clientConfig], {
      encoding: "utf8",
      timeout: 60_000,
    });
    return { status: run.status, stdout: run.stdout, stderr: run.stderr };
  }

  test("without the capability the root-only key cannot be read: a config error naming it (the check can fail)", () => {
    const run = runAsNobody(false);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain("client.key cannot be read: permission denied");
  }, 60_000);

  test("with CAP_DAC_READ_SEARCH only, the root-only key is read and the root-only file is backed up", () => {
    const run = runAsNobody(true);
    expect(run.status).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report.results).toEqual([expect.objectContaining({ name: "private", status: "sent" })]);
    const archive = path.join(world.storage, "web01", report.results[0].archive);
    expect(spawnSync("tar", ["-xzOf", archive, "private/shadow.txt"], { encoding: "utf8" }).stdout).toBe("root only\n");
    // The state the service user wrote is its own.
    expect(fs.statSync(path.join(world.state, "status.json")).uid).toBe(NOBODY);
  }, 60_000);

  test("--once without the capability says the service has it; backup-now backs up through the service, as nobody or as root", async () => {
    // As the installer does: the service user owns its key (the config names it), so a hand run can start.
    fs.chownSync(path.join(world.dir, "client.key"), NOBODY, NOBODY);
    const daemon = spawn("setpriv", [...asNobody(true), "client", "--config", world.clientConfig], { stdio: ["ignore", "ignore", "pipe"] });
    let log = "";
    daemon.stderr!.on("data", (d: Buffer) => (log += d.toString()));
    const exited = new Promise<number | null>((resolve) => daemon.once("exit", resolve));
    try {
      while (!/tick done: 1 unchanged/.test(log)) {
        if (daemon.exitCode !== null) throw new Error(`daemon exited:\n${log}`);
        await Bun.sleep(25);
      }
      const once = runAsNobody(false);
      expect(once.status).toBe(1);
      const failed = JSON.parse(once.stdout).results[0];
      expect(failed).toMatchObject({ name: "private", status: "failed" });
      expect(failed.error).toContain(`permission denied: ${secretDir}`);
      expect(failed.error).toContain(CAPABILITY_HINT);

      fs.writeFileSync(path.join(secretDir, "shadow.txt"), "root only, changed\n");
      const asUser = runAsNobody(false, ["backup-now", "--json"]);
      expect(asUser.status).toBe(0);
      expect(JSON.parse(asUser.stdout).results).toEqual([expect.objectContaining({ name: "private", status: "sent" })]);
      const asRoot = runBinary(["backup-now", "--config", world.clientConfig]);
      expect(asRoot.status).toBe(0);
      expect(asRoot.stdout).toMatch(/^ {2}private +unchanged /m);
    } finally {
      daemon.kill("SIGTERM");
      await exited;
    }
  }, 60_000);
});
