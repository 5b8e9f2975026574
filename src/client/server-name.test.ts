import { expect, test } from "bun:test";
import type { Logger } from "../io/log.ts";
import { checkServerName } from "./server-name.ts";

function recorder(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, log: (level, message) => lines.push(`${level} ${message}`) };
}

test("a name the server gives another way is warned once per change, and its cure once", () => {
  const log = recorder();
  let seen = checkServerName("web01", "web01", undefined, log) ?? undefined;
  expect(log.lines).toEqual([]);
  seen = checkServerName("web01", "web02", seen, log) ?? undefined;
  expect(seen).toEqual({ configured: "web01", server: "web02" });
  // The same mismatch tick after tick: said once.
  seen = checkServerName("web01", "web02", seen, log) ?? undefined;
  seen = checkServerName("web01", "web02", seen, log) ?? undefined;
  // Another name on the server: a change, said again.
  seen = checkServerName("web01", "web03", seen, log) ?? undefined;
  seen = checkServerName("web03", "web03", seen, log) ?? undefined;
  expect(seen).toBeUndefined();
  expect(log.lines).toEqual([
    'warn this client is named "web01" (client.name) but the server lists its key as "web02": its archives are stored under web02/ on the server; set client.name: web02, or list this key as web01 under server.clients',
    'warn this client is named "web01" (client.name) but the server lists its key as "web03": its archives are stored under web03/ on the server; set client.name: web03, or list this key as web01 under server.clients',
    'info the server now stores this client as "web03", its client.name',
  ]);
});
