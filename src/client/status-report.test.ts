// The client's status: the next tick on the schedule's wall clock with its zone; a name the server gives otherwise.
import { afterAll, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseConfig } from "../config/parse-config.ts";
import type { ClientConfig } from "../io/config-file.ts";
import { ClientState } from "./state.ts";
import { clientStatus, clientStatusLines } from "./status-report.ts";

const K = "ed25519:iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w=";
const root = fs.mkdtempSync(path.join(os.tmpdir(), "hashrelay-client-status-"));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** A client config with its own state folder under the temp root; `extra` lines go under client:. */
function config(label: string, extra: string[]): ClientConfig {
  const state = path.join(root, label);
  const text = [
    "version: 1",
    "client:",
    "  name: web01",
    "  server: nas.lan",
    `  serverKey: ${K}`,
    "  key: ./client.key",
    `  state: ${state}`,
  ]
    .concat(extra, ["  paths: [/etc]", ""])
    .join("\n");
  const parsed = parseConfig(text, path.join(root, `${label}.yaml`), {});
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return parsed.config as ClientConfig;
}

const file = { file: "hashrelay.yaml", hash: "0".repeat(64) };

test("the next tick in the schedule's zone, named, with the client's splay delay", () => {
  // 20:00 UTC on 28 March 2026 = 21:00 in Paris; the next 02:30 does not exist (spring forward): 03:00 CEST.
  const now = new Date("2026-03-28T20:00:00Z");
  const c = config("zoned", ['  schedule: "30 2 * * *"']);
  const status = clientStatus(c, now, "Europe/Paris");
  expect(status).toMatchObject({ nextTick: "2026-03-29T01:00:00.000Z", nextTickFrom: "schedule", timezone: "Europe/Paris" });
  expect(clientStatusLines(status, file, now)).toContain(
    "Next tick: 2026-03-29 03:00:00 Europe/Paris (in 5 h) by the schedule, schedule 30 2 * * * in Europe/Paris (the machine's zone)",
  );
  // client.timezone wins over the machine's; the splay delays the tick by this client's fixed share.
  const zoned = clientStatus(config("splayed", ['  schedule: "30 2 * * *"', "  timezone: UTC", "  splay: 15m"]), now, "Europe/Paris");
  expect(zoned.timezone).toBe("UTC");
  expect(zoned.splayOffsetMs).toBeLessThan(15 * 60_000);
  expect(Date.parse(zoned.nextTick)).toBe(Date.parse("2026-03-29T02:30:00Z") + zoned.splayOffsetMs);
  expect(zoned.scheduleDetail).toMatch(/^30 2 \* \* \* in UTC, splay 15m \(this client \+/);
});

test("a name the server lists this key under, other than client.name, is shown with what to do", async () => {
  const now = new Date("2026-03-28T20:00:00Z");
  const c = config("named", []);
  const state = new ClientState(c.client.state);
  state.init();
  await state.saveTick({
    at: now.toISOString(),
    server: "up",
    results: [],
    nameMismatch: { configured: "web01", server: "web02" },
  });
  const status = clientStatus(c, now, "UTC");
  expect(status.nameMismatch).toEqual({ configured: "web01", server: "web02" });
  expect(clientStatusLines(status, file, now)).toContain(
    'Name: this client is named "web01" (client.name) but the server lists its key as "web02": its archives are stored under web02/ on the server; set client.name: web02, or list this key as web01 under server.clients',
  );
  // Recorded under another client.name: that edit is the fix; the next session tells.
  await state.saveTick({
    at: now.toISOString(),
    server: "up",
    results: [],
    nameMismatch: { configured: "old-name", server: "web02" },
  });
  expect(clientStatus(c, now, "UTC").nameMismatch).toBeNull();
});
