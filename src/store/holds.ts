// Holds on suspect replacements: while a name is held, its last good archive escapes retention.
//
// On disk, durable (never derived, never rebuilt): `<root>/.holds/<client>/<name>.json`, one file per
// held name, written atomically; `<root>/.holds/<client>/<name>.release`: a release asked for by
// `hashrelay release` (an admin command on the server: the client machine is what ransomware
// controls, so no wire message can release). The running daemon owns the store: it applies requests
// (Store.applyReleaseRequests) and deletes each request file once done, which is what the command
// waits for. On an S3 storage the bucket holds each hold first (bucket-holds.ts): this book is then
// its cache, brought in line before each client is served.
import { mkdir, readFile, unlink } from "node:fs/promises";
import { HashRelayError } from "../errors.ts";
import { isSlug } from "../config/slug.ts";
import { writeFileAtomic } from "../io/atomic-file.ts";
import { StoreLayout, pathExists, readdirOrEmpty } from "./layout.ts";
import type { ReplacementFigures, ReplacementVerdict, SuspectRules } from "./suspect-replacement.ts";

/** One held name. */
export interface Hold {
  client: string;
  name: string;
  /** The archive kept out of retention: the predecessor of the first suspect archive. */
  kept: string;
  /** The latest archive that looked like an encrypted replacement. */
  suspect: string;
  /** When the hold began (ISO 8601 UTC). */
  since: string;
  reason: string;
  figures: ReplacementFigures;
  /** Later archives that were not suspect relative to their predecessor (see SuspectRules.releaseAfter). */
  consistent: number;
}

/** What a new archive did to the hold of its name. */
export type HoldChange = "held" | "held-again" | "counted" | "released" | null;

/**
 * The hold of a name after archive `file` was stored with `verdict` against its predecessor
 * `previous`: a suspect archive starts a hold keeping `previous` (or renews one, counting from 0
 * again); a sound one counts as consistent and, at rules.releaseAfter (> 0), lifts the hold. Pure.
 */
export function holdAfter(
  current: Hold | undefined,
  verdict: ReplacementVerdict,
  at: { client: string; name: string; previous: string; file: string; now: string },
  rules: SuspectRules,
): { hold: Hold | undefined; change: HoldChange } {
  const figures = { shared: verdict.shared, previousRatio: verdict.previousRatio, newRatio: verdict.newRatio };
  if (verdict.suspect) {
    if (current) return { hold: { ...current, suspect: at.file, reason: verdict.reason, figures, consistent: 0 }, change: "held-again" };
    return {
      hold: {
        client: at.client,
        name: at.name,
        kept: at.previous,
        suspect: at.file,
        since: at.now,
        reason: verdict.reason,
        figures,
        consistent: 0,
      },
      change: "held",
    };
  }
  if (!current) return { hold: undefined, change: null };
  const consistent = current.consistent + 1;
  if (rules.releaseAfter > 0 && consistent >= rules.releaseAfter) return { hold: undefined, change: "released" };
  return { hold: { ...current, consistent }, change: "counted" };
}

/** The holds of one storage root, read at open and kept in memory; every change is written first. */
export class HoldBook {
  private readonly holds = new Map<string, Hold>();

  private constructor(private readonly layout: StoreLayout) {}

  /** Reads every hold file. An unreadable one is logged and left in place (its name stays unprotected until fixed). Throws fs errors other than ENOENT. */
  static async load(layout: StoreLayout, log: (event: string, fields: { path: string; error: string }) => void): Promise<HoldBook> {
    const book = new HoldBook(layout);
    for (const found of await readHolds(layout)) {
      if ("problem" in found) log("hold.unreadable", { path: found.path, error: found.problem });
      else book.holds.set(`${found.client}/${found.name}`, found);
    }
    return book;
  }

  get(client: string, name: string): Hold | undefined {
    return this.holds.get(`${client}/${name}`);
  }

  all(): Hold[] {
    return [...this.holds.values()];
  }

  /** Writes the hold file (atomically), then remembers it. Throws fs errors. */
  async put(hold: Hold): Promise<void> {
    await mkdir(this.layout.holdsDir(hold.client), { recursive: true, mode: 0o750 });
    await writeFileAtomic(this.layout.holdPath(hold.client, hold.name), holdText(hold), 0o640);
    this.holds.set(`${hold.client}/${hold.name}`, hold);
  }

  /** Deletes the hold file, then forgets it. Throws fs errors other than ENOENT. */
  async drop(client: string, name: string): Promise<void> {
    await unlinkIfThere(this.layout.holdPath(client, name));
    this.holds.delete(`${client}/${name}`);
  }

  /** Release requests waiting, as (client, name); files with other names are ignored. */
  async requests(): Promise<{ client: string; name: string }[]> {
    const out: { client: string; name: string }[] = [];
    for (const client of await readdirOrEmpty(this.layout.holdsRoot())) {
      if (!isSlug(client)) continue;
      for (const item of await readdirOrEmpty(this.layout.holdsDir(client))) {
        const name = item.endsWith(".release") ? item.slice(0, -".release".length) : "";
        if (isSlug(name)) out.push({ client, name });
      }
    }
    return out;
  }

  /** Deletes a request once applied. Throws fs errors other than ENOENT. */
  async consume(client: string, name: string): Promise<void> {
    await unlinkIfThere(this.layout.holdPath(client, name, "release"));
  }
}

/** Every hold file under `<root>/.holds`, parsed, or with the problem that kept it from being read. Never creates anything. */
export async function readHolds(layout: StoreLayout): Promise<(Hold | { path: string; problem: string })[]> {
  const out: (Hold | { path: string; problem: string })[] = [];
  for (const client of await readdirOrEmpty(layout.holdsRoot())) {
    if (!isSlug(client)) continue;
    for (const item of await readdirOrEmpty(layout.holdsDir(client))) {
      const name = item.endsWith(".json") ? item.slice(0, -".json".length) : "";
      if (!isSlug(name)) continue;
      const path = layout.holdPath(client, name);
      try {
        out.push(parseHold(JSON.parse(await readFile(path, "utf8")), client, name));
      } catch (err) {
        out.push({ path, problem: (err as Error).message });
      }
    }
  }
  return out;
}

/**
 * Asks the daemon to release (client, name): writes the request file atomically. Throws STORAGE when
 * no hold file exists for it (unless `heldInBucket`: an S3 storage's bucket holds it, and the cache
 * may not know it yet) or the request cannot be written.
 */
export async function requestRelease(layout: StoreLayout, client: string, name: string, heldInBucket = false): Promise<void> {
  if (!heldInBucket && !(await pathExists(layout.holdPath(client, name)))) {
    throw new HashRelayError("STORAGE", `no hold on ${client}/${name}`, "see the holds with hashrelay release --list");
  }
  try {
    await writeFileAtomic(
      layout.holdPath(client, name, "release"),
      JSON.stringify({ requestedAt: new Date().toISOString(), pid: process.pid }) + "\n",
      0o640,
    );
  } catch (err) {
    throw new HashRelayError(
      "STORAGE",
      `cannot write the release request for ${client}/${name}: ${(err as Error).message}`,
      "run the command as the server's user",
    );
  }
}

/** A hold as its file (and its object in an S3 storage's bucket) holds it. */
export function holdText(hold: Hold): string {
  return JSON.stringify({ v: 1, ...hold }, null, 2) + "\n";
}

/** The hold of (client, name) in `value` (a parsed hold file); throws when it is not one. */
export function parseHold(value: unknown, client: string, name: string): Hold {
  const v = value as Partial<Hold> | null;
  const f = v?.figures as Partial<ReplacementFigures> | undefined;
  const ok =
    typeof v === "object" &&
    v !== null &&
    v.client === client &&
    v.name === name &&
    typeof v.kept === "string" &&
    typeof v.suspect === "string" &&
    typeof v.since === "string" &&
    typeof v.reason === "string" &&
    typeof v.consistent === "number" &&
    typeof f?.shared === "number" &&
    typeof f.previousRatio === "number" &&
    typeof f.newRatio === "number";
  if (!ok) throw new Error(`not a hold of ${client}/${name}`);
  return {
    client,
    name,
    kept: v.kept!,
    suspect: v.suspect!,
    since: v.since!,
    reason: v.reason!,
    figures: { shared: f!.shared!, previousRatio: f!.previousRatio!, newRatio: f!.newRatio! },
    consistent: v.consistent!,
  };
}

async function unlinkIfThere(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
}
