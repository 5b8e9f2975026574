// End to end: examples/gitops: the CI gate over every host file, and a merge pulled by git reaching a running agent.
import { describe, expect, test } from "bun:test";
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { ROOT, ensureBinary, freePort, keygen, runBinary, tempDir } from "../testing/e2e-harness.ts";

const GITOPS = path.join(ROOT, "examples", "gitops");
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

function sh(command: string, args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  const result = spawnSync(command, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, encoding: "utf8" });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function git(cwd: string, ...args: string[]): string {
  const result = sh("git", ["-c", "user.name=ci", "-c", "user.email=ci@example.org", "-c", "init.defaultBranch=main", ...args], { cwd });
  if (result.status !== 0) throw new Error(`git ${args.join(" ")}: ${result.stderr}`);
  return result.stdout;
}

describe("examples/gitops", () => {
  test("ci/validate.sh passes on the example fleet", () => {
    const run = sh("bash", [path.join(GITOPS, "ci", "validate.sh")], { env: { HASHRELAY: ensureBinary() } });
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    for (const host of ["nas", "web01", "alice-laptop"]) expect(run.stdout).toContain(`hosts/${host}.yaml: valid (sha256 `);
  });

  test("ci/validate.sh fails the merge when one host file is invalid, naming file:line:col", () => {
    const copy = path.join(tempDir("fleet"), "fleet");
    fs.cpSync(GITOPS, copy, { recursive: true });
    const web = path.join(copy, "hosts", "web01.yaml");
    fs.writeFileSync(web, fs.readFileSync(web, "utf8").replace('schedule: "30 2 * * *"', 'schedule: "30 25 * * *"'));
    const run = sh("bash", [path.join(copy, "ci", "validate.sh")], { env: { HASHRELAY: ensureBinary() } });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/^hosts\/web01\.yaml:11:\d+: client\.schedule: /m);
    expect(run.stderr).toContain("1 of 3 host files are invalid");
    const json = runBinary(["validate", "--json", "--skip-key-files", "--config", web]);
    expect(json.status).toBe(2);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, file: web, errors: [{ line: 11, key: "client.schedule" }] });
  });

  test("its shell scripts pass shellcheck", () => {
    if (!Bun.which("shellcheck")) return; // build/provision.sh installs it
    const run = sh("shellcheck", ["-x", "ci/validate.sh", "deploy/pull.sh"], { cwd: GITOPS });
    expect(run.stdout + run.stderr).toBe("");
    expect(run.status).toBe(0);
  });

  test("a merged change pulled by deploy/pull.sh reaches the running client through its symlinked config; a bad one is refused", async () => {
    const dir = tempDir("gitops");
    const origin = path.join(dir, "origin");
    fs.mkdirSync(path.join(origin, "hosts"), { recursive: true });
    keygen(path.join(dir, "client.key"));
    const serverPub = keygen(path.join(dir, "server.key"));
    fs.mkdirSync(path.join(dir, "data"));
    const port = await freePort(); // nothing listens: the ticks find the server down, the reloads do not care
    const host = (paths: string[]) =>
      [
        "version: 1",
        `port: ${port}`,
        "client:",
        "  name: web01",
        "  server: 127.0.0.1",
        `  serverKey: "${serverPub}"`,
        `  key: ${path.join(dir, "client.key")}`,
        '  schedule: "every 1h"',
        `  state: ${path.join(dir, "state")}`,
        "  paths:",
        ...paths.map((p) => `    - ${p}`),
        "",
      ].join("\n");
    fs.writeFileSync(path.join(origin, "hosts", "web01.yaml"), host([path.join(dir, "data")]));
    git(origin, "init", "-q");
    git(origin, "add", ".");
    git(origin, "commit", "-qm", "web01");
    const checkout = path.join(dir, "checkout");
    git(dir, "clone", "-q", origin, checkout);
    const etc = path.join(dir, "etc");
    fs.mkdirSync(etc);
    const config = path.join(etc, "hashrelay.yaml");
    fs.symlinkSync(path.join(checkout, "hosts", "web01.yaml"), config);

    const child = spawn(ensureBinary(), ["client", "--config", config], { stdio: ["ignore", "ignore", "pipe"] });
    let log = "";
    child.stderr!.on("data", (d: Buffer) => (log += d.toString()));
    const waitFor = async (text: string) => {
      const deadline = Date.now() + 10_000;
      while (!log.includes(text)) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`never saw ${text}:\n${log}`);
        await Bun.sleep(25);
      }
    };
    try {
      await waitFor("tick done");
      const next = host([path.join(dir, "data"), "/etc"]);
      fs.writeFileSync(path.join(origin, "hosts", "web01.yaml"), next);
      git(origin, "commit", "-qam", "web01: back up /etc too");
      const pulled = sh("bash", [path.join(GITOPS, "deploy", "pull.sh")], { env: { HASHRELAY_FLEET: checkout } });
      expect(pulled.stderr).toBe("");
      expect(pulled.status).toBe(0);
      await waitFor("client.paths: added etc (/etc)");
      const status = JSON.parse(runBinary(["status", "--json", "--config", config]).stdout) as {
        client: { configInForce: { hash: string; pid: number } };
      };
      expect(status.client.configInForce).toMatchObject({ hash: sha256(next), pid: child.pid! });

      fs.writeFileSync(path.join(origin, "hosts", "web01.yaml"), next.replace("every 1h", "every hour"));
      git(origin, "commit", "-qam", "web01: a typo CI would have caught");
      expect(sh("bash", [path.join(GITOPS, "deploy", "pull.sh")], { env: { HASHRELAY_FLEET: checkout } }).status).toBe(0);
      await waitFor(`still running on sha256 ${sha256(next)}`);
      expect(child.exitCode).toBeNull();
    } finally {
      child.kill("SIGTERM");
      await new Promise((resolve) => child.once("exit", resolve));
    }
  }, 30_000);
});
