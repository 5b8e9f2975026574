// `hashrelay release NAME [--client C]` and `hashrelay release --list`: lift a hold on a suspect replacement, on the server.
//
// The running daemon owns the storage, so this command never touches archives itself: it leaves a
// request file under <storage>/.holds (store/holds.ts) and waits for the daemon to apply it.
import { EXIT, HashRelayError } from "../errors.ts";
import { isSlug } from "../config/slug.ts";
import { daemonRunning } from "../daemon/daemon-status.ts";
import { readServerActivity } from "../server/service.ts";
import { holdLines } from "../server/status-report.ts";
import { readHolds, requestRelease, type Hold } from "../store/holds.ts";
import { StoreLayout, pathExists, readdirOrEmpty } from "../store/layout.ts";
import { configPath, parseArgs } from "./args.ts";
import { loadConfig, requireServer } from "../io/config-file.ts";

/** How long the command waits for the daemon (it looks every 2 s). */
const WAIT_MS = 15_000;

/** Exit 0 released (or listed), 1 the daemon took the request but the hold remains, 2 usage/config/no such hold, 3 the server is not running or did not answer: the request stays queued. */
export async function release(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ["--config", "--client"], flags: ["--json", "--list"] }, "release");
  const json = args.flags.has("--json");
  const config = requireServer(loadConfig(configPath(args)));
  const layout = new StoreLayout(config.server.storage);
  const found = await readHolds(layout);
  const holds = found.filter((h): h is Hold => !("problem" in h));
  const unreadable = found.flatMap((h) => ("problem" in h ? [`${h.path}: ${h.problem}`] : []));

  if (args.flags.has("--list")) {
    if (args.positionals.length > 0) throw new HashRelayError("USAGE", "--list takes no NAME", "see: hashrelay help release");
    if (json) process.stdout.write(JSON.stringify({ holds, unreadable }) + "\n");
    else process.stdout.write(holdLines(holds, unreadable, new Date()).join("\n") + "\n");
    return EXIT.OK;
  }
  const [name, extra] = args.positionals;
  if (!name || extra !== undefined) throw new HashRelayError("USAGE", "give one source NAME (or --list)", "see: hashrelay help release");
  if (!isSlug(name))
    throw new HashRelayError("USAGE", `${JSON.stringify(name)} is not a source name`, "source names are slugs: a-z, 0-9 and dashes");
  const client = args.values.get("--client") ?? onlyClientHolding(holds, name);
  const hold = holds.find((h) => h.client === client && h.name === name);
  if (!isSlug(client) || !hold)
    throw new HashRelayError("USAGE", `no hold on ${client}/${name}`, "see the holds with hashrelay release --list");

  await requestRelease(layout, client, name);
  const request = layout.holdPath(client, name, "release");
  const say = (out: object, text: string, code: number) => {
    process.stdout.write(json ? JSON.stringify({ client, name, kept: hold.kept, ...out }) + "\n" : text + "\n");
    return code;
  };
  if (!daemonRunning(readServerActivity(config.server.storage))) {
    return say(
      { released: false, queued: true },
      `the server is not running: the release of ${client}/${name} is queued (${request}) and applies at its next start`,
      EXIT.SERVER_DOWN,
    );
  }
  const deadline = Date.now() + WAIT_MS;
  while ((await pathExists(request)) && Date.now() < deadline) await Bun.sleep(200);
  if (await pathExists(request)) {
    return say(
      { released: false, queued: true },
      `the server did not take the request within ${WAIT_MS / 1000} s; it stays queued (${request})`,
      EXIT.SERVER_DOWN,
    );
  }
  if (await pathExists(layout.holdPath(client, name))) {
    return say(
      { released: false },
      `the server took the request but ${client}/${name} is still held; see its log (release.failed)`,
      EXIT.SOURCE_FAILED,
    );
  }
  const inTrash = (await readdirOrEmpty(layout.trashDir(client))).some(
    (item) => item === hold.kept || (item.startsWith(`${hold.kept}.`) && !item.endsWith(".trashed")),
  );
  const stays = await pathExists(layout.archivePath(client, hold.kept));
  const where = stays ? "stored" : inTrash ? "trash" : "gone";
  const detail = stays
    ? `${hold.kept} stays: retention.keep keeps it`
    : inTrash
      ? `${hold.kept} moved to the trash (${layout.trashDir(client)}), purged after server.retention.trashFor`
      : `${hold.kept} is no longer stored`;
  return say({ released: true, where }, `released ${client}/${name}: ${detail}`, EXIT.OK);
}

/** The one client holding `name`; throws USAGE when none or several do (then --client is needed). */
function onlyClientHolding(holds: readonly Hold[], name: string): string {
  const clients = holds.filter((h) => h.name === name).map((h) => h.client);
  if (clients.length === 1) return clients[0]!;
  if (clients.length === 0) throw new HashRelayError("USAGE", `no hold on ${name}`, "see the holds with hashrelay release --list");
  throw new HashRelayError("USAGE", `${name} is held for several clients (${clients.join(", ")})`, "name one with --client");
}
