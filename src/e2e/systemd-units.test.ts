// The shipped units pass `systemd-analyze verify` with nothing on stderr, and say what the issue asks of them.
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { ensureBinary, ROOT, tempDir } from "../testing/e2e-harness.ts";

const UNITS = ["HashRelay.client.service", "HashRelay.server.service"];
const unitText = (unit: string) => fs.readFileSync(path.join(ROOT, "config", "systemd", unit), "utf8");

/** key → values, for the [Service] section. */
function serviceKeys(text: string): Map<string, string[]> {
  const keys = new Map<string, string[]>();
  let section = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line.startsWith("[")) section = line;
    if (section !== "[Service]" || !line.includes("=") || line.startsWith("#")) continue;
    const key = line.slice(0, line.indexOf("="));
    keys.set(key, [...(keys.get(key) ?? []), line.slice(line.indexOf("=") + 1)]);
  }
  return keys;
}

describe("systemd units", () => {
  test("systemd-analyze verify passes for both units, with no output on stderr", () => {
    const analyze = spawnSync("systemd-analyze", ["--version"], { encoding: "utf8" });
    if (analyze.status !== 0) throw new Error("systemd-analyze is missing: build/provision.sh installs it (Debian package systemd)");
    // verify checks that ExecStart=/ExecReload= exist: an alternate root holds the real binary at the path the units name,
    // /bin/kill, and the host's unit library (targets the units refer to).
    const root = tempDir("units");
    fs.mkdirSync(path.join(root, "usr/local/bin"), { recursive: true });
    fs.mkdirSync(path.join(root, "usr/bin"), { recursive: true });
    fs.mkdirSync(path.join(root, "etc/systemd/system"), { recursive: true });
    fs.mkdirSync(path.join(root, "usr/lib/systemd"), { recursive: true });
    fs.symlinkSync("usr/bin", path.join(root, "bin"));
    fs.copyFileSync(ensureBinary(), path.join(root, "usr/local/bin/hashrelay"));
    fs.chmodSync(path.join(root, "usr/local/bin/hashrelay"), 0o755);
    fs.copyFileSync(fs.realpathSync("/bin/kill"), path.join(root, "usr/bin/kill"));
    fs.chmodSync(path.join(root, "usr/bin/kill"), 0o755);
    fs.cpSync(fs.realpathSync("/usr/lib/systemd/system"), path.join(root, "usr/lib/systemd/system"), {
      recursive: true,
      verbatimSymlinks: true,
    });
    for (const unit of UNITS) fs.copyFileSync(path.join(ROOT, "config", "systemd", unit), path.join(root, "etc/systemd/system", unit));

    const verify = spawnSync("systemd-analyze", ["verify", "--man=no", `--root=${root}`, ...UNITS], { encoding: "utf8" });
    expect(verify.stderr).toBe("");
    expect(verify.status).toBe(0);

    // The check can fail: a unit with a mistake in it is reported.
    fs.appendFileSync(path.join(root, "etc/systemd/system", UNITS[0]!), "\n[Service]\nProtectSystem=sometimes\n");
    const broken = spawnSync("systemd-analyze", ["verify", "--man=no", `--root=${root}`, UNITS[0]!], { encoding: "utf8" });
    expect(broken.stderr).toContain("Failed to parse protect system value, ignoring: sometimes");
    fs.rmSync(root, { recursive: true, force: true });
  }, 60_000);

  test("Type=notify with a watchdog, reload by SIGHUP, service users, and the client reads through CAP_DAC_READ_SEARCH only", () => {
    const client = serviceKeys(unitText(UNITS[0]!));
    const server = serviceKeys(unitText(UNITS[1]!));
    for (const keys of [client, server]) {
      expect(keys.get("Type")).toEqual(["notify"]);
      expect(keys.get("WatchdogSec")?.length).toBe(1);
      expect(keys.get("ExecReload")).toEqual(["/bin/kill -HUP $MAINPID"]);
      for (const hardening of [
        "NoNewPrivileges",
        "PrivateTmp",
        "ProtectKernelTunables",
        "ProtectKernelModules",
        "ProtectKernelLogs",
        "ProtectControlGroups",
      ]) {
        expect(keys.get(hardening)).toEqual(["yes"]);
      }
      expect(keys.get("ProtectSystem")).toEqual(["strict"]);
      expect(keys.get("ReadWritePaths")?.length).toBe(1);
      expect(keys.get("RestrictAddressFamilies")).toEqual(["AF_UNIX AF_INET AF_INET6"]);
    }
    expect(client.get("User")).toEqual(["HashRelay-Client"]);
    expect(client.get("AmbientCapabilities")).toEqual(["CAP_DAC_READ_SEARCH"]);
    expect(client.get("CapabilityBoundingSet")).toEqual(["CAP_DAC_READ_SEARCH"]);
    expect(client.get("ExecStart")).toEqual(["/usr/local/bin/hashrelay client"]);
    expect(server.get("User")).toEqual(["HashRelay-server"]);
    expect(server.get("CapabilityBoundingSet")).toEqual([""]);
    expect(server.get("ExecStart")).toEqual(["/usr/local/bin/hashrelay server"]);
  });
});
