// Where server storage keeps each thing, and the checks that keep every path under the storage root.
import { lstat, readdir } from "node:fs/promises";
import { resolve, sep, join } from "node:path";
import { HashRelayError } from "../errors.ts";
import { isSlug } from "../config/slug.ts";
import { parseArchiveFileName } from "../archive/naming.ts";

/** Names of the hidden folders at the root; isSlug refuses them, so no client can be called that. */
export const TRASH_DIR = ".trash";
export const DERIVED_DIR = ".hashrelay";
/** The audit log (audit-log.ts): not derived data, so not under .hashrelay, which may be deleted and rebuilt. */
export const AUDIT_DIR = ".audit";
/** Holds on suspect replacements (holds.ts): durable state, not derived, so not under .hashrelay. */
export const HOLDS_DIR = ".holds";
/** Signed records of stored archives (signed-record.ts): not derived, so not under .hashrelay; not in the client folders, which hold archives only. */
export const SIGNED_DIR = ".signed";
/** Suffix of a trashed archive's signed record, beside its item in .trash/<client>/. */
export const SIGNED_SUFFIX = ".signed.json";

/** Refuses (BAD_FRAME) a client id that is not a slug. */
export function checkClient(client: string): void {
  if (typeof client !== "string" || !isSlug(client)) {
    throw new HashRelayError(
      "BAD_FRAME",
      `client id ${JSON.stringify(client)} is not a valid name`,
      "client ids are slugs: a-z, 0-9 and dashes",
    );
  }
}

/** Refuses (BAD_FRAME) a source name that is not a slug. */
export function checkName(name: string): void {
  if (typeof name !== "string" || !isSlug(name)) {
    throw new HashRelayError(
      "BAD_FRAME",
      `source name ${JSON.stringify(name)} is not a valid name`,
      "source names are slugs: a-z, 0-9 and dashes",
    );
  }
}

/** Refuses (BAD_FRAME) a file that is not `backup-NAME-NOW.tar.gz` for exactly this name. Returns its time. */
export function checkArchiveFile(name: string, file: string): Date {
  checkName(name);
  const parsed = typeof file === "string" ? parseArchiveFileName(file) : null;
  if (!parsed || parsed.name !== name) {
    throw new HashRelayError(
      "BAD_FRAME",
      `archive file ${JSON.stringify(file)} is not an archive name for ${name}`,
      "expected backup-NAME-SS-MM-HH-YYYY-MM-DD.tar.gz",
    );
  }
  return parsed.at;
}

/** Paths of one storage root. Every method asserts that the path it returns stays under the root. */
export class StoreLayout {
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  /** `<root>/<client>`: the client's archives, under their final names. */
  clientDir(client: string): string {
    return this.under(client);
  }
  archivePath(client: string, file: string): string {
    return this.under(client, file);
  }
  /** `<root>/.signed/<client>`: the signed records of the client's stored archives. */
  signedDir(client: string): string {
    return this.under(SIGNED_DIR, client);
  }
  /** `<root>/.signed/<client>/<file>.json`: the archive's signed manifest and receipt (signed-record.ts). */
  signedPath(client: string, file: string): string {
    return this.under(SIGNED_DIR, client, `${file}.json`);
  }
  trashRoot(): string {
    return this.under(TRASH_DIR);
  }
  trashDir(client: string): string {
    return this.under(TRASH_DIR, client);
  }
  trashPath(client: string, item: string): string {
    return this.under(TRASH_DIR, client, item);
  }
  /** `.trash/<client>/<item>.signed.json`: the signed record that followed the archive into the trash. */
  trashedSignedPath(client: string, item: string): string {
    return this.under(TRASH_DIR, client, item + SIGNED_SUFFIX);
  }
  holdsRoot(): string {
    return this.under(HOLDS_DIR);
  }
  holdsDir(client: string): string {
    return this.under(HOLDS_DIR, client);
  }
  /** `<root>/.holds/<client>/<name>.json`: the hold on that name; `.release` beside it: a release asked for. */
  holdPath(client: string, name: string, kind: "json" | "release" = "json"): string {
    return this.under(HOLDS_DIR, client, `${name}.${kind}`);
  }
  derivedDir(): string {
    return this.under(DERIVED_DIR);
  }
  /** The chunk index (SQLite; derived: rebuilt by scanning when missing or damaged). */
  indexPath(): string {
    return this.under(DERIVED_DIR, "index.sqlite");
  }
  /** Where earlier versions kept one JSON file per archive; removed at open. */
  legacyCatalogRoot(): string {
    return this.under(DERIVED_DIR, "catalog");
  }
  tmpDir(): string {
    return this.under(DERIVED_DIR, "tmp");
  }
  tmpPath(item: string): string {
    return this.under(DERIVED_DIR, "tmp", item);
  }
  stagingRoot(): string {
    return this.under(DERIVED_DIR, "staging");
  }
  stagingDir(client: string): string {
    return this.under(DERIVED_DIR, "staging", client);
  }
  stagingPath(client: string, item: string): string {
    return this.under(DERIVED_DIR, "staging", client, item);
  }

  auditDir(): string {
    return this.under(AUDIT_DIR);
  }
  /** `.audit/audit.log`, `.audit/audit.head`, and what recovery moves aside beside them. */
  auditPath(item: string): string {
    return this.under(AUDIT_DIR, item);
  }

  /** Joins parts under the root; throws STORAGE if the result would not be strictly inside it. */
  under(...parts: string[]): string {
    const path = resolve(join(this.root, ...parts));
    assertUnderRoot(this.root, path);
    return path;
  }
}

/** Defence in depth: throws STORAGE unless `path` resolves strictly inside `root`. */
export function assertUnderRoot(root: string, path: string): void {
  const base = resolve(root);
  if (!resolve(path).startsWith(base + sep)) {
    throw new HashRelayError("STORAGE", `refusing path ${path}: it is outside the storage folder ${base}`);
  }
}

/** Folder entries, sorted, or [] when the folder does not exist. Throws other fs errors. */
export async function readdirOrEmpty(path: string): Promise<string[]> {
  try {
    return (await readdir(path)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
}

/** True when something (file, folder, link) is at `path`. Throws fs errors other than ENOENT. */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
}
