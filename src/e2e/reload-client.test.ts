// End to end: the client daemon applies config edits live (-add, edit storms, invalid edits, SIGHUP) without restarting.
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { startClient } from "../testing/client-daemon.ts";
import { makeWorld, runBinary, startServer, tempDir, type World } from "../testing/e2e-harness.ts";

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/** A world whose client ticks `every 2s` over one source folder `docs`. */
async function liveWorld(): Promise<{ world: World; data: string }> {
  const root = tempDir("live");
  const data = path.join(root, "docs");
  fs.mkdirSync(data);
  fs.writeFileSync(path.join(data, "a.txt"), "first\n");
  const world = await makeWorld([data]);
  setSchedule(world, "every 2s");
  return { world, data };
}

function setSchedule(world: World, schedule: string): void {
  const text = fs.readFileSync(world.clientConfig, "utf8").replace(/schedule: "[^"]*"/, `schedule: "${schedule}"`);
  fs.writeFileSync(world.clientConfig, text);
}

function clientStatus(world: World): {
  client: {
    configInForce: { hash: string; pid: number } | null;
    lastReloadError: { message: string; issues: { line: number; col: number; key: string }[] } | null;
  };
} {
  const run = runBinary(["status", "--json", "--config", world.clientConfig]);
  return JSON.parse(run.stdout);
}

function archivesOf(world: World, name: string): string[] {
  const dir = path.join(world.storage, "web01");
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.startsWith(`backup-${name}-`)) : [];
}

/** ISO times of the log lines matching `re`, in ms. */
function timesOf(log: string, re: RegExp): number[] {
  return log
    .split("\n")
    .filter((l) => re.test(l))
    .map((l) => Date.parse(l.slice(0, 24)));
}

describe("client daemon, live config", () => {
  test("hashrelay -add NEWDIR while it runs: within two ticks NEWDIR's archive is on the server, same pid; -rm keeps the archive", async () => {
    const { world } = await liveWorld();
    const server = await startServer(world);
    const client = startClient(world);
    try {
      await client.waitFor(/backup of docs sent/);
      const pid = client.child.pid;
      const cwd = tempDir("cwd");
      fs.mkdirSync(path.join(cwd, "newdir"));
      fs.writeFileSync(path.join(cwd, "newdir", "n.txt"), "new\n");
      // A relative path, resolved against the current folder and written absolute.
      const added = runBinary(["-add", "newdir", "--config", world.clientConfig], { cwd });
      expect(added.stderr).toBe("");
      expect(added.status).toBe(0);
      expect(fs.readFileSync(world.clientConfig, "utf8")).toContain(`    - ${path.join(cwd, "newdir")}\n`);
      const logAtEdit = client.log().length;
      await client.waitFor(/backup of newdir sent/);
      // Within two ticks, counted in ticks rather than seconds (a loaded machine stretches both alike): the
      // tick running at the edit (on the config it started with) and the next may end before newdir is sent.
      const sinceEdit = client.log().slice(logAtEdit);
      expect(sinceEdit.slice(0, sinceEdit.indexOf("backup of newdir sent")).split("tick done").length - 1).toBeLessThanOrEqual(2);
      expect(archivesOf(world, "newdir")).toHaveLength(1);
      expect(client.log()).toContain(`client.paths: added newdir (${path.join(cwd, "newdir")})`);
      expect(client.child.pid).toBe(pid!);
      expect(client.child.exitCode).toBeNull();
      const text = fs.readFileSync(world.clientConfig, "utf8");
      expect(clientStatus(world).client.configInForce).toMatchObject({ hash: sha256(text), pid: pid! });
      // Attestation: the server learns the new hash from the client's next session.
      await server.waitForLog(`client runs config sha256 ${sha256(text)}`);

      const removed = runBinary(["-rm", path.join(cwd, "newdir"), "--config", world.clientConfig]);
      expect(removed.status).toBe(0);
      expect(removed.stdout).toContain("its archives stay on the server");
      await client.waitFor(/client\.paths: removed newdir/);
      // The second tick to end from here started after the removal (the first may have begun before it).
      const ticks = client.count(/tick done/);
      await client.waitFor(/tick done/, ticks + 2);
      expect(archivesOf(world, "newdir")).toHaveLength(1);
      expect(
        client
          .log()
          .split("\n")
          .filter((l) => /tick done/.test(l))
          .at(-1),
      ).toContain("1 unchanged");
    } finally {
      expect(await client.stop()).toBe(0);
      await server.stop();
    }
  }, 40_000);

  test("an edit storm (50 writes in one second, valid and invalid mixed, the last valid): the last wins, no crash, one schedule timer", async () => {
    const { world, data } = await liveWorld();
    const server = await startServer(world);
    const client = startClient(world);
    try {
      await client.waitFor(/tick done/);
      const pid = client.child.pid;
      const base = fs.readFileSync(world.clientConfig, "utf8");
      const extra = path.join(path.dirname(data), "last");
      fs.mkdirSync(extra);
      fs.writeFileSync(path.join(extra, "l.txt"), "last\n");
      const variants = (i: number): string => {
        if (i === 49) return base.replace(/schedule: "[^"]*"/, 'schedule: "every 2s"') + `    - ${JSON.stringify(extra)}\n`;
        if (i % 3 === 1) return base.replace(/schedule: "[^"]*"/, 'schedule: "every 3 weeks"'); // invalid: schema-valid YAML, bad schedule
        if (i % 3 === 2) return base.slice(0, Math.floor(base.length / 2)); // invalid: cut mid-file, as a torn write
        return base.replace(/schedule: "[^"]*"/, `schedule: "every ${2 + (i % 5)}s"`);
      };
      // One write every 20 ms: the storm's pace, not a wait (a loaded machine may stretch it past a second;
      // nothing below depends on how long it took).
      const started = Date.now();
      for (let i = 0; i < 50; i++) {
        fs.writeFileSync(world.clientConfig, variants(i));
        await Bun.sleep(Math.max(0, started + (i + 1) * 20 - Date.now()));
      }
      const final = variants(49);
      // The last write wins: applied (the log names its hash), its new source backed up by the same process.
      await client.waitFor(new RegExp(`config applied \\(file changed\\): .* sha256 ${sha256(final)};`));
      await client.waitFor(/backup of last sent/);
      expect(archivesOf(world, "last")).toHaveLength(1);
      expect(clientStatus(world).client).toMatchObject({ configInForce: { hash: sha256(final) }, lastReloadError: null });
      expect(client.child.pid).toBe(pid!);
      // One schedule timer: ticks after the storm come one per "every 2s", never closer together.
      const from = client.count(/tick done/);
      await client.waitFor(/tick done/, from + 3, 30_000);
      const done = timesOf(client.log(), /tick done/).slice(-4);
      for (let i = 1; i < done.length; i++) expect(done[i]! - done[i - 1]!).toBeGreaterThan(1700);
      expect(client.log()).not.toContain("internal error");
    } finally {
      expect(await client.stop()).toBe(0);
      await server.stop();
    }
  }, 60_000);

  test("an invalid edit, then a valid one: the agent keeps ticking through both; SIGHUP reloads", async () => {
    const { world } = await liveWorld();
    const server = await startServer(world);
    const client = startClient(world);
    try {
      await client.waitFor(/tick done/);
      const good = fs.readFileSync(world.clientConfig, "utf8");
      const bad = good.replace(/schedule: "[^"]*"/, 'schedule: "every 3 weeks"');
      fs.writeFileSync(world.clientConfig, bad);
      await client.waitFor(/config not applied \(file changed\)/);
      // the issue lines follow the summary line as separate writes: wait for them too
      await client.waitFor(new RegExp(`${world.clientConfig.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:8:13: client\\.schedule: `));
      expect(client.log()).toContain(`still running on sha256 ${sha256(good)}`);
      const status = clientStatus(world).client;
      expect(status.configInForce!.hash).toBe(sha256(good));
      expect(status.lastReloadError!.issues[0]).toMatchObject({ line: 8, col: 13, key: "client.schedule" });
      // `status` on the invalid file itself: its errors, and the config the agent keeps running on.
      const human = runBinary(["status", "--config", world.clientConfig]);
      expect(human.status).toBe(2);
      expect(human.stdout).toContain(`${world.clientConfig}:8:13: client.schedule:`);
      expect(human.stdout).toContain(`Config in force: sha256 ${sha256(good)}`);

      const ticks = client.count(/tick done/);
      await client.waitFor(/tick done/, ticks + 1); // still ticking on the old config

      const fixed = good.replace(/schedule: "[^"]*"/, 'schedule: "every 1s"');
      fs.writeFileSync(world.clientConfig, fixed);
      await client.waitFor(/config applied \(file changed\)/);
      expect(client.log()).toContain("client.schedule: every 2s → every 1s");
      expect(client.log()).toContain("schedule re-armed (every 1s)");
      const after = client.count(/tick done/);
      await client.waitFor(/tick done/, after + 2);
      expect(clientStatus(world).client).toMatchObject({ configInForce: { hash: sha256(fixed) }, lastReloadError: null });

      client.child.kill("SIGHUP");
      await client.waitFor(/config applied \(SIGHUP\): .*; no change/);
      expect(client.child.exitCode).toBeNull();
    } finally {
      expect(await client.stop()).toBe(0);
      await server.stop();
    }
  }, 40_000);
});
