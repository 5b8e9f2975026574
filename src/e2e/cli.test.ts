// End to end: keygen, validate, help and exit codes of the compiled binary.
import { describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { runBinary, tempDir } from "../testing/e2e-harness.ts";

describe("keygen", () => {
  test("creates a 0600 private key, prints ed25519:<base64 of 32 bytes>, refuses to overwrite without --force", () => {
    const dir = tempDir("keygen");
    const key = path.join(dir, "id.key");
    const first = runBinary(["keygen", "--out", key]);
    expect(first.status).toBe(0);
    expect(first.stdout).toMatch(/^ed25519:[A-Za-z0-9+/]{43}=\n$/);
    expect(Buffer.from(first.stdout.trim().slice(8), "base64")).toHaveLength(32);
    expect(fs.statSync(key).mode & 0o777).toBe(0o600);

    const again = runBinary(["keygen", "--out", key]);
    expect(again.status).toBe(2);
    expect(again.stderr).toContain("already exists");
    expect(again.stderr).toContain("--force");

    const forced = runBinary(["keygen", "--out", key, "--force"]);
    expect(forced.status).toBe(0);
    expect(forced.stdout).not.toBe(first.stdout);
  });

  test("a group-readable private key is refused at load, like ssh does", () => {
    const dir = tempDir("keymode");
    const serverPub = runBinary(["keygen", "--out", path.join(dir, "server.key")]).stdout.trim();
    const clientPub = runBinary(["keygen", "--out", path.join(dir, "client.key")]).stdout.trim();
    fs.chmodSync(path.join(dir, "client.key"), 0o640);
    const config = path.join(dir, "c.yaml");
    fs.writeFileSync(
      config,
      `version: 1\nclient:\n  name: a\n  server: 127.0.0.1\n  serverKey: "${serverPub}"\n  key: ./client.key\n  paths: [/etc/hostname]\n`,
    );
    void clientPub;
    const run = runBinary(["client", "--once", "--config", config]);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain(
      `${config}:6:8: client.key: private key ${path.join(dir, "client.key")} is readable by group or others (mode 0640)`,
    );
    expect(run.stderr).toContain(`chmod 600 ${path.join(dir, "client.key")}`);
  });
});

describe("validate", () => {
  test("a valid file exits 0; an invalid one prints every error as file:line:col: key: message (hint) and exits 2", () => {
    const dir = tempDir("validate");
    const good = path.join(dir, "good.yaml");
    const example = fs.readFileSync(path.resolve(import.meta.dir, "..", "..", "hashrelay.example.yaml"), "utf8");
    fs.writeFileSync(good, example);
    runBinary(["keygen", "--out", path.join(dir, "client.key")]);
    runBinary(["keygen", "--out", path.join(dir, "server.key")]);
    const ok = runBinary(["validate", "--config", good]);
    expect(ok.stderr).toBe("");
    expect(ok.status).toBe(0);

    const bad = path.join(dir, "bad.yaml");
    fs.writeFileSync(
      bad,
      "version: 1\nport: 70000\nclient:\n  server: nas\n  serverKey: nope\n  key: ./k\n  schedule: every 3 weeks\n  paths: []\n  colour: blue\n",
    );
    const run = runBinary(["validate", "--config", bad]);
    expect(run.status).toBe(2);
    const lines = run.stderr.trim().split("\n");
    expect(lines.length).toBeGreaterThanOrEqual(5);
    for (const line of lines) expect(line).toMatch(new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:\\d+:\\d+: \\S+: .+`));
    expect(run.stderr).toContain(`${bad}:2:7: port:`);
    expect(run.stderr).toContain(`${bad}:5:14: client.serverKey:`);
    expect(run.stderr).toContain(`${bad}:9:3: client.colour:`);

    const json = runBinary(["validate", "--json", "--config", bad]);
    expect(json.status).toBe(2);
    const parsed = JSON.parse(json.stdout) as { ok: boolean; errors: { line: number; key: string }[] };
    expect(parsed.ok).toBe(false);
    expect(parsed.errors.map((e) => e.key)).toContain("port");
  });

  test("a missing config file is a usage error naming the file", () => {
    const run = runBinary(["validate", "--config", "/nonexistent/hashrelay.yaml"]);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain("/nonexistent/hashrelay.yaml");
  });
});

describe("help and usage", () => {
  test("-h lists every command with an example; unknown commands and options exit 2", () => {
    const help = runBinary(["-h"]);
    expect(help.status).toBe(0);
    for (const command of ["client", "server", "keygen", "validate", "status"]) expect(help.stdout).toContain(`hashrelay ${command}`);
    expect(help.stdout).toContain("Exit codes");
    expect(runBinary(["frobnicate"]).status).toBe(2);
    expect(runBinary(["keygen", "--out", "/tmp/x", "--bogus"]).status).toBe(2);
    expect(runBinary(["--version"]).stdout).toMatch(/^hashrelay \d+\.\d+\.\d+/);
  });
});
