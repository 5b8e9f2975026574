// Effective capabilities read from /proc: root has CAP_DAC_READ_SEARCH, a process given only it has it, one dropped to none has not.
import { expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { CAP_DAC_READ_SEARCH, capabilityInStatus, hasCapability } from "./capabilities.ts";

const root = process.getuid?.() === 0;
const setpriv = spawnSync("setpriv", ["--version"], { stdio: "ignore" }).status === 0;

test("the CapEff bit is read from the status text", () => {
  expect(capabilityInStatus("Name:\tx\nCapEff:\t0000000000000004\n", CAP_DAC_READ_SEARCH)).toBe(true);
  expect(capabilityInStatus("CapEff:\t000001ffffffffff\n", CAP_DAC_READ_SEARCH)).toBe(true);
  expect(capabilityInStatus("CapEff:\t0000000000000002\n", CAP_DAC_READ_SEARCH)).toBe(false);
  expect(capabilityInStatus("Name:\tx\n", CAP_DAC_READ_SEARCH)).toBe(false);
  expect(hasCapability(CAP_DAC_READ_SEARCH, 2 ** 22 + 1)).toBe(false);
});

test.skipIf(!root || !setpriv)("as nobody: with the ambient capability it is effective, without it not", () => {
  const statusAsNobody = (caps: string[]) =>
    spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", ...caps, "--", "cat", "/proc/self/status"], {
      encoding: "utf8",
    }).stdout;
  const withCap = statusAsNobody([
    "--inh-caps=+dac_read_search",
    "--ambient-caps=+dac_read_search",
    "--bounding-set=-all,+dac_read_search",
  ]);
  const without = statusAsNobody(["--inh-caps=-all", "--bounding-set=-all"]);
  expect(capabilityInStatus(withCap, CAP_DAC_READ_SEARCH)).toBe(true);
  expect(capabilityInStatus(without, CAP_DAC_READ_SEARCH)).toBe(false);
  expect(hasCapability(CAP_DAC_READ_SEARCH)).toBe(true);
});
