// End to end: `hashrelay discover` refuses bad arguments and configs before it sends anything
// (the discovery itself crosses veth pairs in dependencies/contact-ip/test/discovery-netns.bats).
import { describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { keygen, runBinary, tempDir } from "../testing/e2e-harness.ts";

describe("discover", () => {
  test("usage errors exit 2: an unknown option, a stray argument, a wait that is not a short duration", () => {
    expect(runBinary(["discover", "--frobnicate"]).status).toBe(2);
    expect(runBinary(["discover", "somewhere"]).status).toBe(2);
    for (const wait of ["2", "0s", "2m", "soon"]) {
      const run = runBinary(["discover", "--wait", wait, "--config", "/nonexistent.yaml"]);
      expect(run.status).toBe(2);
      expect(run.stderr).toContain(`--wait ${wait}: expected a duration up to 60s`);
    }
  });

  test("a config without a client section has no pinned key to look for: exit 2", () => {
    const dir = tempDir("discover");
    const clientPub = keygen(path.join(dir, "client.key"));
    keygen(path.join(dir, "server.key"));
    const config = path.join(dir, "server.yaml");
    fs.writeFileSync(config, `version: 1\nserver:\n  key: ./server.key\n  clients:\n    - name: web01\n      key: "${clientPub}"\n`);
    const run = runBinary(["discover", "--config", config]);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain("no client section");
  });

  test("help lists it", () => {
    const help = runBinary(["help", "discover"]);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain("hashrelay discover [--config FILE] [--wait 2s]");
  });
});
