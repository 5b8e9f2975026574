// End to end: the server binary keeps the memory it frees (server/freed-memory.ts), unless the admin set the allocator's delay.
import { afterAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import { PURGE_DELAY_VARIABLE } from "../server/freed-memory.ts";
import { makeWorld, startServer, tempDir, type ServerProcess } from "../testing/e2e-harness.ts";

const servers: ServerProcess[] = [];

afterAll(async () => {
  for (const server of servers) await server.stop();
});

/** The allocator setting in the environment of process `pid` as it runs now (after any exec). */
function purgeDelayOf(pid: number): string | undefined {
  const line = fs
    .readFileSync(`/proc/${pid}/environ`, "utf8")
    .split("\0")
    .find((l) => l.startsWith(`${PURGE_DELAY_VARIABLE}=`));
  return line?.slice(PURGE_DELAY_VARIABLE.length + 1);
}

describe("the server's allocator", () => {
  test("the server re-executes itself, same pid, with freed memory kept, and serves", async () => {
    const world = await makeWorld([tempDir("freed-src")]);
    const env = { ...process.env } as Record<string, string>;
    delete env[PURGE_DELAY_VARIABLE];
    const server = await startServer(world, { env });
    servers.push(server);
    expect(purgeDelayOf(server.child.pid!)).toBe("-1");
  });

  test("an admin's own setting is kept as it is", async () => {
    const world = await makeWorld([tempDir("freed-src")]);
    const server = await startServer(world, { env: { [PURGE_DELAY_VARIABLE]: "10" } });
    servers.push(server);
    expect(purgeDelayOf(server.child.pid!)).toBe("10");
  });
});
