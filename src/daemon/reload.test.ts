import { describe, expect, test } from "bun:test";
import { HashRelayError } from "../errors.ts";
import { parseConfig, type Config } from "../config/parse-config.ts";
import { ConfigReloader, type ConfigRecord, type ReloadPart } from "./reload.ts";

const FILE = "/etc/hashrelay/hashrelay.yaml";
const KEY = `"ed25519:${"A".repeat(43)}="`;
const config = (paths: string[], schedule = "every 30m") =>
  [
    "version: 1",
    "client:",
    "  name: web01",
    "  server: nas.lan",
    `  serverKey: ${KEY}`,
    "  key: ./client.key",
    `  schedule: "${schedule}"`,
    "  paths:",
    ...paths.map((p) => `    - ${p}`),
    "",
  ].join("\n");

/** A reloader over an in-memory file, with parts that record what they were asked to do. */
function world(opts: { veto?: (next: Config) => string | null; prepareDelayMs?: number } = {}) {
  const events: string[] = [];
  const lines: string[] = [];
  const records: ConfigRecord[] = [];
  const file = { text: config(["/etc"]) };
  const part = (name: string, veto?: (next: Config) => string | null): ReloadPart => ({
    name,
    prepare: async (next, diff, prev) => {
      if (opts.prepareDelayMs) await Bun.sleep(opts.prepareDelayMs);
      const why = veto?.(next);
      if (why) throw new HashRelayError("CONFIG", why, "do something else");
      events.push(
        `${name} prepare ${next.client!.paths.map((s) => s.name).join(",")} prev=${prev ? prev.client!.paths.length : "none"} ${diff.changes.join("|")}`,
      );
      return { commit: () => void events.push(`${name} commit`), abort: () => void events.push(`${name} abort`) };
    },
  });
  const reloader = new ConfigReloader({
    file: FILE,
    read: () => file.text,
    parse: (text) => parseConfig(text, FILE),
    parts: [part("schedule"), part("sources", opts.veto)],
    log: () => ({ log: (level, message) => void lines.push(`${level} ${message}`) }),
    onRecord: (record) => void records.push(record),
  });
  return { reloader, file, events, lines, records };
}

describe("ConfigReloader", () => {
  test("start-up is a reload from nothing: every part prepares with no previous config, then all commit", async () => {
    const w = world();
    const outcome = await w.reloader.request("start");
    expect(outcome.status).toBe("applied");
    expect(w.events).toEqual([
      "schedule prepare etc prev=none first config",
      "sources prepare etc prev=none first config",
      "schedule commit",
      "sources commit",
    ]);
    expect(w.reloader.current!.client!.paths.map((s) => s.path)).toEqual(["/etc"]);
    expect(w.records.at(-1)).toMatchObject({ hash: outcome.hash, lastError: null, lastReload: { reason: "start", status: "applied" } });
    expect(w.lines.some((l) => l.startsWith(`info config applied (start): ${FILE} sha256 ${outcome.hash}`))).toBe(true);
  });

  test("an invalid file changes nothing; every error is logged with file:line:col, key and hint, and recorded once", async () => {
    const w = world();
    const first = await w.reloader.request("start");
    w.events.length = 0;
    w.file.text = config(["/etc", "/srv"], "every 3 weeks");
    const outcome = await w.reloader.request("file changed");
    expect(outcome.status).toBe("invalid");
    expect(w.events).toEqual([]);
    expect(w.reloader.current!.hash).toBe(first.hash!);
    expect(w.lines).toContain(
      `error config not applied (file changed): 1 error in ${FILE} (fix them: the agent reloads when the file changes, or on SIGHUP (after fixing a key file)); still running on sha256 ${first.hash}`,
    );
    expect(w.lines.some((l) => l.startsWith(`error ${FILE}:7:13: client.schedule: `))).toBe(true);
    const record = w.records.at(-1)!;
    expect(record.hash).toBe(first.hash);
    expect(record.lastError).toMatchObject({ hash: outcome.hash, issues: [{ line: 7, col: 13, key: "client.schedule" }] });

    const logged = w.lines.length;
    expect((await w.reloader.request("poll")).status).toBe("unchanged");
    expect(w.lines.length).toBe(logged); // the same bad text is not reported again
  });

  test("a veto from one part aborts the parts already prepared and applies nothing", async () => {
    const w = world({ veto: (next) => (next.client!.paths.length > 1 ? "cannot take two sources" : null) });
    const first = await w.reloader.request("start");
    w.events.length = 0;
    w.file.text = config(["/etc", "/srv"]);
    const outcome = await w.reloader.request("SIGHUP", true);
    expect(outcome.status).toBe("vetoed");
    expect(outcome.error!.message).toBe("sources refused the new config: cannot take two sources");
    expect(w.events).toEqual(["schedule prepare etc,srv prev=1 client.paths: added srv (/srv)", "schedule abort"]);
    expect(w.reloader.current!.hash).toBe(first.hash!);
    expect(w.records.at(-1)!.lastError!.message).toContain("cannot take two sources");
  });

  test("an unchanged file does nothing unless forced (SIGHUP); going back to the config in force clears the error", async () => {
    const w = world();
    await w.reloader.request("start");
    w.events.length = 0;
    expect((await w.reloader.request("file changed")).status).toBe("unchanged");
    expect(w.events).toEqual([]);
    expect((await w.reloader.request("SIGHUP", true)).status).toBe("applied");
    expect(w.events).toEqual(["schedule prepare etc prev=1 ", "sources prepare etc prev=1 ", "schedule commit", "sources commit"]);

    const good = w.file.text;
    w.file.text = "version: 1\nclient: [";
    await w.reloader.request("file changed");
    expect(w.records.at(-1)!.lastError).not.toBeNull();
    w.file.text = good;
    expect((await w.reloader.request("file changed")).status).toBe("unchanged");
    expect(w.records.at(-1)!.lastError).toBeNull();
  });

  test("an unreadable file is an invalid reload naming the file", async () => {
    const w = world();
    await w.reloader.request("start");
    const reloader = new ConfigReloader({
      file: FILE,
      read: () => {
        throw Object.assign(new Error("gone"), { code: "ENOENT" });
      },
      parse: (t) => parseConfig(t, FILE),
      parts: [],
      log: () => ({ log: () => undefined }),
    });
    const outcome = await reloader.request("start");
    expect(outcome.status).toBe("invalid");
    expect(outcome.error!.message).toBe(`cannot read ${FILE}: ENOENT`);
    expect(reloader.current).toBeNull();
  });

  test("a storm of requests while a reload runs is merged: one more reload, on the last text", async () => {
    const w = world({ prepareDelayMs: 30 });
    await w.reloader.request("start");
    w.events.length = 0;
    const outcomes = [];
    // All 50 arrive while the first reload prepares (no timer can fire between them): it reads v0, the one
    // merged reload after it reads v49.
    for (let i = 0; i < 50; i++) {
      w.file.text = config(["/etc", `/srv/v${i}`]);
      outcomes.push(w.reloader.request("file changed"));
      await Promise.resolve();
    }
    await Promise.all(outcomes);
    const prepares = w.events.filter((e) => e.startsWith("schedule prepare"));
    expect(prepares.map((e) => e.split(" ")[2])).toEqual(["etc,v0", "etc,v49"]);
    expect(w.reloader.current!.client!.paths.map((s) => s.path)).toEqual(["/etc", "/srv/v49"]);
  });
});
