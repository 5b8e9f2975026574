// Free space on the storage file system, as the space guard asks for it (tests give the guard another probe).
import { statfs } from "node:fs/promises";

/** Free bytes (for this user) on the file system holding `root`. Throws fs errors. */
export type FreeSpaceProbe = (root: string) => Promise<number>;

/** The real probe: statfs of `root`. */
export const diskFreeBytes: FreeSpaceProbe = async (root) => {
  const fs = await statfs(root);
  return fs.bavail * fs.bsize;
};
