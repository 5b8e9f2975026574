// Free space on the storage file system: an archive is refused before it is written when it would not leave the margin free.
import { statfs } from "node:fs/promises";
import { HashRelayError } from "../errors.ts";
import type { StoreContext } from "./store-context.ts";

/** Throws NO_SPACE (naming `what`) unless `bytes` plus the store's space margin are free under the root; fs errors when statfs fails. */
export async function ensureSpace(ctx: StoreContext, bytes: number, what: string): Promise<void> {
  const fs = await statfs(ctx.layout.root);
  const free = fs.bavail * fs.bsize;
  if (free < bytes + ctx.spaceMargin) {
    throw new HashRelayError(
      "NO_SPACE",
      `not enough space to store ${what}: it needs ${bytes} bytes plus a ${ctx.spaceMargin}-byte margin, ${free} bytes are free`,
      "free space on the server's storage or lower retention.keep",
    );
  }
}
