// The copy's check over the members of the lab's stored archive: SHA-256 (before) against XXH3-64 (after), in memory.
import { Database } from "bun:sqlite";
import { createHash } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
const nas = process.argv[2]!;
const file = readdirSync(`${nas}/bench`).find((f) => f.endsWith(".tar.gz"))!;
const bytes = readFileSync(`${nas}/bench/${file}`);
const db = new Database(`${nas}/.hashrelay/index.sqlite`, { readonly: true });
const rows = db.query<{ offset: number; length: number }, []>("SELECT offset, length FROM members ORDER BY archive, seq").all();
console.log(file, bytes.length, "bytes,", rows.length, "members");
for (let r = 0; r < 3; r++) {
  for (const [name, f] of [
    ["sha256", (b: Uint8Array) => createHash("sha256").update(b).digest()],
    ["xxh3", (b: Uint8Array) => Bun.hash.xxHash3(b)],
  ] as const) {
    const t = performance.now();
    for (const m of rows) f(bytes.subarray(m.offset, m.offset + m.length));
    console.log(name, (performance.now() - t).toFixed(1), "ms");
  }
}
