// A documents folder for the ransomware-guard tests: small text files that compress well, and so tell their encryption apart.
import fs from "node:fs";
import path from "node:path";

const WORDS = "invoice quarterly report meeting notes the client project budget draft final review signed contract".split(" ");

/** Writes ~200 small text files (1-6 KB) in 10 folders under `dir`, as a documents folder would hold; returns their paths. */
export function writeDocuments(dir: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < 200; i++) {
    const file = path.join(dir, `folder-${i % 10}`, `doc-${i}.txt`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    let text = "";
    for (let w = i; text.length < 1000 + ((i * 7919) % 5000); w = (w * 31 + 7) % 9973)
      text += WORDS[w % WORDS.length] + (w % 13 === 0 ? ".\n" : " ");
    fs.writeFileSync(file, text);
    out.push(file);
  }
  return out;
}
