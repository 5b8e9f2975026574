// Which modules each command evaluates: main.ts only the command files, a command its own work on its first call.
import { beforeAll, describe, expect, test } from "bun:test";
import { build, type Metafile } from "esbuild";
import path from "node:path";

const root = path.resolve(import.meta.dir, "../..");
let inputs: Metafile["inputs"];

beforeAll(async () => {
  // The import graph as the build sees it (build/build.ts); nothing is written.
  const result = await build({
    absWorkingDir: root,
    entryPoints: ["src/main.ts"],
    bundle: true,
    platform: "node",
    format: "esm",
    external: ["bun", "bun:*"],
    write: false,
    outdir: "out",
    metafile: true,
    logLevel: "silent",
  });
  inputs = result.metafile.inputs;
});

/** The files evaluated when `file` is: its static imports, transitively (a dynamic import or a require inside a function loads later). */
function evaluatedWith(file: string): Set<string> {
  const seen = new Set<string>();
  const todo = [file];
  while (todo.length > 0) {
    const next = todo.pop()!;
    if (seen.has(next)) continue;
    seen.add(next);
    for (const i of inputs[next]?.imports ?? []) if (i.kind === "import-statement" && !i.external) todo.push(i.path);
  }
  return seen;
}

/** The files a command file loads when it runs: what its `await import(...)` targets evaluate. */
function loadedOnRun(file: string): Set<string> {
  const targets = (inputs[file]?.imports ?? []).filter((i) => i.kind === "dynamic-import").map((i) => i.path);
  return new Set(targets.flatMap((t) => [...evaluatedWith(t)]));
}

const TICK = ["src/client/tick.ts", "src/client/upload.ts"];
const SERVER_DAEMON = ["src/server/daemon.ts", "src/store/store.ts"];
const LIVE_CONFIG = ["src/daemon/live-config.ts"];

describe("lazy loading", () => {
  test("main.ts evaluates the command files and nothing they load to run (hashrelay --version, --help)", () => {
    const atStart = [...evaluatedWith("src/main.ts")];
    expect(atStart).toContain("src/cli/ls.ts");
    expect(atStart.filter((f) => f.includes("node_modules/"))).toEqual([]);
    expect(atStart.filter((f) => /^src\/(client|server|store|session|io|daemon|archive)\//.test(f))).toEqual([]);
  });

  const commands = [
    "ls",
    "restore",
    "verify",
    "status",
    "release",
    "discover",
    "validate",
    "keygen",
    "receipt",
    "trust-server",
    "add-source",
    "remove-source",
    "backup-now",
  ];
  test.each(commands)("%s loads neither the client's tick nor the server daemon nor the live config", (command) => {
    const loaded = loadedOnRun(`src/cli/${command}.ts`);
    expect(loaded.size).toBeGreaterThan(0);
    expect([...TICK, ...SERVER_DAEMON, ...LIVE_CONFIG].filter((f) => loaded.has(f))).toEqual([]);
  });

  test("client does not load the server daemon, server not the client's tick", () => {
    expect(SERVER_DAEMON.filter((f) => loadedOnRun("src/cli/client.ts").has(f))).toEqual([]);
    expect(TICK.filter((f) => loadedOnRun("src/cli/server.ts").has(f))).toEqual([]);
  });

  test("client --once does not load the daemon's live config", () => {
    const once = evaluatedWith("src/cli/client-once.ts");
    expect(once).toContain("src/client/tick.ts");
    expect(LIVE_CONFIG.filter((f) => once.has(f))).toEqual([]);
  });
});
