// What `hashrelay release` does, on the server's machine: list the holds, or ask the running daemon to lift one and wait for it.
//
// The running daemon owns the storage, so this command never touches archives itself: it leaves a
// request file under <storage>/.holds (store/holds.ts) and waits for the daemon to apply it. On an S3
// storage it lists the holds in the bucket (every server's), and the daemon lifts one there.
import { EXIT, HashRelayError } from "../errors.ts";
import { isSlug } from "../config/slug.ts";
import { daemonRunning } from "../daemon/daemon-status.ts";
import { loadConfig, requireServer } from "../io/config-file.ts";
import { readServerActivity } from "../server/service.ts";
import { holdLines } from "../server/status-report.ts";
import { connectBucket, type BucketArchives } from "../store/bucket-archives.ts";
import { listBucketHolds } from "../store/bucket-holds.ts";
import { readHolds, requestRelease, type Hold } from "../store/holds.ts";
import { StoreLayout, pathExists, readdirOrEmpty } from "../store/layout.ts";

/** How long the command waits for the daemon (it looks every 2 s). */
const WAIT_MS = 15_000;

/** `hashrelay release` as its flags asked (src/cli/release.ts); NAME is checked once the config is read. */
export interface ReleaseRequest {
  configFile: string;
  names: string[];
  client: string | undefined;
  list: boolean;
  json: boolean;
}

/** How a release ended: the JSON fields besides client, name and kept, the line a person reads, the exit code. */
interface Outcome {
  fields: { released: boolean; queued?: true; where?: string };
  text: string;
  exit: number;
}

/** Exit 0 released (or listed), 1 the daemon took the request but the hold remains, 2 usage/config/no such hold, 3 the server is not running or did not answer: the request stays queued. */
export async function releaseCommand(request: ReleaseRequest): Promise<number> {
  const config = requireServer(loadConfig(request.configFile));
  const layout = new StoreLayout(config.server.storage);
  // on an S3 storage the bucket holds every server's holds; this server's cache may not know one yet
  const bucket = config.server.bucket ? await connectBucket(config.server.bucket, process.env) : null;
  const found = bucket ? await listBucketHolds(bucket) : await readHolds(layout);
  const holds = found.filter((h): h is Hold => !("problem" in h));
  const unreadable = found.flatMap((h) => ("problem" in h ? [`${h.path}: ${h.problem}`] : []));
  if (request.list) {
    if (request.names.length > 0) throw new HashRelayError("USAGE", "--list takes no NAME", "see: hashrelay help release");
    if (request.json) process.stdout.write(JSON.stringify({ holds, unreadable }) + "\n");
    else process.stdout.write(holdLines(holds, unreadable, new Date()).join("\n") + "\n");
    return EXIT.OK;
  }
  const name = oneName(request.names);
  const client = request.client ?? onlyClientHolding(holds, name);
  const hold = holds.find((h) => h.client === client && h.name === name);
  if (!isSlug(client) || !hold)
    throw new HashRelayError("USAGE", `no hold on ${client}/${name}`, "see the holds with hashrelay release --list");
  const outcome = await release(layout, config.server.storage, hold, bucket);
  process.stdout.write(request.json ? JSON.stringify({ client, name, kept: hold.kept, ...outcome.fields }) + "\n" : outcome.text + "\n");
  return outcome.exit;
}

/** Leaves the release request and waits (up to WAIT_MS) for the running daemon to apply it. `bucket`: an S3 storage's. */
async function release(layout: StoreLayout, storage: string, hold: Hold, bucket: BucketArchives | null): Promise<Outcome> {
  const { client, name } = hold;
  await requestRelease(layout, client, name, bucket !== null);
  const request = layout.holdPath(client, name, "release");
  if (!daemonRunning(readServerActivity(storage))) {
    return {
      fields: { released: false, queued: true },
      text: `the server is not running: the release of ${client}/${name} is queued (${request}) and applies at its next start`,
      exit: EXIT.SERVER_DOWN,
    };
  }
  const deadline = Date.now() + WAIT_MS;
  while ((await pathExists(request)) && Date.now() < deadline) await Bun.sleep(200);
  if (await pathExists(request))
    return {
      fields: { released: false, queued: true },
      text: `the server did not take the request within ${WAIT_MS / 1000} s; it stays queued (${request})`,
      exit: EXIT.SERVER_DOWN,
    };
  const stillHeld = bucket
    ? (await bucket.s3.headObject(bucket.holdKey(client, name))) !== null
    : await pathExists(layout.holdPath(client, name));
  if (stillHeld)
    return {
      fields: { released: false },
      text: `the server took the request but ${client}/${name} is still held; see its log (release.failed)`,
      exit: EXIT.SOURCE_FAILED,
    };
  return released(layout, hold, bucket);
}

/**
 * Released: where the kept archive went, still stored (retention keeps it), in the trash, or gone. On an
 * S3 storage (`bucket`) the object decides: live, or in the bucket's trash (or waiting in the cache's
 * trash for that move: bucket-trash.ts).
 */
async function released(layout: StoreLayout, hold: Hold, bucket: BucketArchives | null): Promise<Outcome> {
  const { client, name, kept } = hold;
  const inCacheTrash = (await readdirOrEmpty(layout.trashDir(client))).some(
    (item) => item === kept || (item.startsWith(`${kept}.`) && !item.endsWith(".trashed")),
  );
  const inTrash = inCacheTrash || (bucket !== null && (await bucket.s3.headObject(bucket.trashKey(client, kept))) !== null);
  const stays =
    !inCacheTrash &&
    (bucket ? (await bucket.s3.headObject(bucket.archiveKey(client, kept))) !== null : await pathExists(layout.archivePath(client, kept)));
  const where = stays ? "stored" : inTrash ? "trash" : "gone";
  const trash = bucket ? `${bucket.config.url}/.trash/${client}/` : layout.trashDir(client);
  const detail = stays
    ? `${kept} stays: retention.keep keeps it`
    : inTrash
      ? `${kept} moved to the trash (${trash}), purged after server.retention.trashFor`
      : `${kept} is no longer stored`;
  return { fields: { released: true, where }, text: `released ${client}/${name}: ${detail}`, exit: EXIT.OK };
}

/** The one source NAME given; throws USAGE for none, several or one that is no slug. */
function oneName(names: string[]): string {
  const [name, extra] = names;
  if (!name || extra !== undefined) throw new HashRelayError("USAGE", "give one source NAME (or --list)", "see: hashrelay help release");
  if (!isSlug(name))
    throw new HashRelayError("USAGE", `${JSON.stringify(name)} is not a source name`, "source names are slugs: a-z, 0-9 and dashes");
  return name;
}

/** The one client holding `name`; throws USAGE when none or several do (then --client is needed). */
function onlyClientHolding(holds: readonly Hold[], name: string): string {
  const clients = holds.filter((h) => h.name === name).map((h) => h.client);
  if (clients.length === 1) return clients[0]!;
  if (clients.length === 0) throw new HashRelayError("USAGE", `no hold on ${name}`, "see the holds with hashrelay release --list");
  throw new HashRelayError("USAGE", `${name} is held for several clients (${clients.join(", ")})`, "name one with --client");
}
