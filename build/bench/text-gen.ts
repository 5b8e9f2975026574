// Real-looking text for the bench data set: configs, logs, source files, markdown, CSV, HTML, built from word lists.
import { Rng } from "./seeded-random.ts";

const PROSE = `the of and to in is that it for was on are as with be at by this have from or one had not but what all
were when we there can an your which their said if do will each about how up out them then she many some so these would
other into has more her two like him see time could no make than first been its who now people my made over did down only
way find use may water long little very after words called just where most know get through back much before go good new
write our used me man too any day same right look think also around another came come work three word must because does
part even place well such here take why things help put years different away again off went old number great tell men say
small every found still between name should home big give air line set own under read last never us left end along while
might next sound below saw something thought both few those always looks show large often together asked house world going
want school important until form food keep children feet land side without boy once animals life enough took sometimes four
head above kind began almost live page got earth need far hand high year mother light parts country father let night
following picture being study second eyes soon times story boys since white days ever paper hard near sentence better best
across during today others however sure means knew try told young miles sun ways thing whole hear example heard several
change answer room sea against top turned learn point city play toward five using himself usually money seen car morning
given open become system group process service request value field order during report review support change state
between within across each per before after without through under against during among toward upon`.split(/\s+/);

const TECH = `server client backup archive chunk manifest storage session handshake frame buffer socket stream packet
request response header payload checksum digest signature key token cache index catalog queue worker thread task job
schedule timer timeout retry limit quota threshold metric counter gauge histogram latency throughput bandwidth network
interface address port host route gateway proxy tunnel firewall rule policy user group role permission account profile
config setting option flag parameter argument variable constant module package library plugin extension driver device
disk volume partition block sector inode file folder path mount filesystem snapshot replica mirror shard node cluster
master primary secondary leader follower election quorum consensus commit rollback transaction journal log entry record
table column row query schema migration database connection pool cursor result error warning notice debug trace event
handler listener callback promise future channel message topic subscriber publisher broker consumer producer pipeline
stage step build deploy release version tag branch merge patch diff hash tree graph list map set array vector matrix
string number integer float boolean object class method function closure scope context instance factory builder adapter
parser lexer token encoder decoder codec compressor reader writer loader validator resolver scheduler dispatcher monitor
agent daemon service endpoint controller manager gateway registry provider container image pod namespace volume secret
certificate identity credential nonce cipher tls ssh http https json yaml xml csv html sql api rpc grpc rest websocket
upload download sync restore verify prune purge rotate compact flush fsync rename delete create update insert select
enable disable start stop restart reload open close read write send receive parse format encode decode compress verify`.split(/\s+/);

const NAMES = `alice bob carol dave erin frank grace heidi ivan judy mallory niaj olivia peggy rupert sybil trent victor
walter paris berlin london madrid oslo lima quito cairo delhi tokyo sydney denver austin boston chicago seattle`.split(/\s+/);

const WORDS = [...PROSE, ...TECH];

/** Zipf-like draw table: word i is drawn with weight 1/(i+1.5), so common words dominate as in real text. */
const ZIPF_TABLE = (() => {
  const size = 1 << 15;
  const table = new Uint16Array(size);
  const weights = WORDS.map((_, i) => 1 / (i + 1.5));
  const total = weights.reduce((s, w) => s + w, 0);
  let slot = 0;
  let acc = 0;
  for (let i = 0; i < WORDS.length; i++) {
    acc += weights[i]!;
    const end = Math.min(size, Math.round((acc / total) * size));
    while (slot < end) table[slot++] = i;
  }
  while (slot < size) table[slot++] = WORDS.length - 1;
  return table;
})();

function word(rng: Rng): string {
  return WORDS[ZIPF_TABLE[rng.u32() & 0x7fff]!]!;
}

/** Index in [0, n) skewed towards 0: a file uses a few of its names often and the rest rarely. */
function skewed(rng: Rng, n: number): number {
  return Math.min(rng.int(n), rng.int(n), rng.int(n));
}

/** The names one file keeps reusing (real files repeat their identifiers), derived from the file's label. */
class Lexicon {
  readonly techs: string[];
  readonly idents: string[];
  readonly snakes: string[];
  readonly phrases: string[];
  readonly messages: { text: string; keys: string[] }[];

  constructor(label: string) {
    const rng = new Rng(`${label}/lexicon`);
    this.techs = Array.from({ length: rng.range(12, 40) }, () => rng.pick(TECH));
    const part = () => (rng.int(4) === 0 ? rng.pick(PROSE) : rng.pick(this.techs));
    const join = (n: number, sep: string, caps: boolean) =>
      Array.from({ length: n }, (_, i) => {
        const w = part();
        return caps && i > 0 ? w[0]!.toUpperCase() + w.slice(1) : w;
      }).join(sep);
    this.idents = Array.from({ length: rng.range(10, 30) }, () => join(rng.range(1, 3), "", true));
    this.snakes = Array.from({ length: rng.range(10, 30) }, () => join(rng.range(1, 3), "_", false));
    this.phrases = Array.from({ length: rng.range(15, 40) }, () => words(rng, rng.range(2, 5)));
    this.messages = Array.from({ length: rng.range(6, 24) }, () => ({
      text: words(rng, rng.range(3, 9)),
      keys: Array.from({ length: rng.range(1, 4) }, () => rng.pick(this.snakes)),
    }));
  }
}

/** The PRNG of one file plus the names that file reuses. */
/** The last vocabularies made, kept: files sharing one make it once. */
const lexicons = new Map<string, Lexicon>();

function lexiconOf(label: string): Lexicon {
  let lexicon = lexicons.get(label);
  if (!lexicon) {
    if (lexicons.size >= 64) lexicons.delete(lexicons.keys().next().value!);
    lexicon = new Lexicon(label);
    lexicons.set(label, lexicon);
  }
  return lexicon;
}

class TextRng extends Rng {
  constructor(
    label: string,
    readonly lex: Lexicon,
  ) {
    super(label);
  }
}

function techWord(rng: TextRng): string {
  return rng.lex.techs[skewed(rng, rng.lex.techs.length)]!;
}

function words(rng: Rng, n: number): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(word(rng));
  return out.join(" ");
}

/** A sentence of Zipf-drawn words; a file's own phrases recur in it, as they do in what people write. */
function sentence(rng: Rng): string {
  const n = rng.range(5, 17);
  const phrases = rng instanceof TextRng ? rng.lex.phrases : null;
  const parts: string[] = [];
  for (let i = 0; i < n; i++) {
    let w = phrases && rng.int(2) === 0 ? phrases[skewed(rng, phrases.length)]! : word(rng);
    if (i === 0) w = w[0]!.toUpperCase() + w.slice(1);
    if (i > 2 && i < n - 2 && rng.int(9) === 0) w += ",";
    parts.push(w);
  }
  return parts.join(" ") + (rng.int(12) === 0 ? "?" : ".");
}

function camel(rng: TextRng, parts: number): string {
  if (rng.int(7) > 0) return rng.lex.idents[skewed(rng, rng.lex.idents.length)]!;
  let s = techWord(rng);
  for (let i = 1; i < parts; i++) {
    const w = rng.int(3) === 0 ? word(rng) : techWord(rng);
    s += w[0]!.toUpperCase() + w.slice(1);
  }
  return s;
}

function snake(rng: TextRng, parts: number): string {
  if (rng.int(7) > 0) return rng.lex.snakes[skewed(rng, rng.lex.snakes.length)]!;
  const out = [techWord(rng)];
  for (let i = 1; i < parts; i++) out.push(rng.int(3) === 0 ? word(rng) : techWord(rng));
  return out.join("_");
}

function hex(rng: Rng, digits: number): string {
  let s = "";
  while (s.length < digits) s += rng.u32().toString(16).padStart(8, "0");
  return s.slice(0, digits);
}

/** Wraps prose to ~78 columns, as people and editors do. */
function wrap(text: string, width = 78): string[] {
  const lines: string[] = [];
  let line = "";
  for (const w of text.split(" ")) {
    if (line.length + w.length + 1 > width && line) {
      lines.push(line);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  if (line) lines.push(line);
  return lines;
}

function configValue(rng: TextRng): string {
  switch (rng.int(8)) {
    case 0:
      return String(rng.range(0, 4) * 10 ** rng.range(0, 4));
    case 1:
      return rng.pick(["true", "false", "yes", "no", "on", "off"]);
    case 2:
      return `/${rng.pick(["var", "etc", "srv", "opt", "usr/share", "home"])}/${techWord(rng)}/${snake(rng, rng.range(1, 2))}${rng.pick(["", ".conf", ".db", ".sock", ".log"])}`;
    case 3:
      return `"${words(rng, rng.range(1, 5))}"`;
    case 4:
      return `${rng.pick(NAMES)}.${techWord(rng)}.example.org:${rng.pick([22, 80, 443, 5432, 6379, 7373, 8080, 9090])}`;
    case 5:
      return `${rng.range(1, 90)}${rng.pick(["s", "m", "h", "d", "ms"])}`;
    case 6:
      return `${rng.range(1, 512)}${rng.pick(["KiB", "MiB", "GiB"])}`;
    default:
      return snake(rng, rng.range(1, 3));
  }
}

type BlockWriter = (rng: TextRng, state: { n: number }) => string[];

const confBlock: BlockWriter = (rng, state) => {
  const lines: string[] = [];
  if (state.n++ > 0) lines.push("");
  if (rng.int(2) === 0) lines.push(...wrap(sentence(rng), 76).map((l) => `# ${l}`));
  lines.push(`[${snake(rng, rng.range(1, 2))}]`);
  for (let i = rng.range(3, 12); i > 0; i--) {
    if (rng.int(6) === 0) lines.push(`# ${sentence(rng)}`);
    lines.push(`${rng.int(5) === 0 ? "# " : ""}${snake(rng, rng.range(1, 3))} = ${configValue(rng)}`);
  }
  return lines;
};

const yamlBlock: BlockWriter = (rng, state) => {
  const lines: string[] = state.n++ === 0 ? ["# " + sentence(rng), "version: 1"] : [];
  lines.push(`${snake(rng, rng.range(1, 2))}:`);
  for (let i = rng.range(2, 8); i > 0; i--) {
    if (rng.int(4) === 0) {
      lines.push(`  ${snake(rng, 1)}:`);
      for (let j = rng.range(1, 4); j > 0; j--) lines.push(`    - ${configValue(rng)}`);
    } else
      lines.push(`  ${snake(rng, rng.range(1, 3))}: ${configValue(rng)}${rng.int(7) === 0 ? `   # ${words(rng, rng.range(2, 6))}` : ""}`);
  }
  return lines;
};

const jsonBlock: BlockWriter = (rng, state) => {
  const lines: string[] = [state.n++ === 0 ? "[" : ","];
  lines.push("  {");
  const fields = rng.range(3, 9);
  for (let i = 0; i < fields; i++) {
    const v =
      rng.int(3) === 0
        ? String(rng.range(0, 99999))
        : JSON.stringify(rng.int(2) ? words(rng, rng.range(1, 6)) : configValue(rng).replace(/"/g, ""));
    lines.push(`    "${camel(rng, rng.range(1, 2))}": ${v}${i < fields - 1 ? "," : ""}`);
  }
  lines.push("  }");
  return lines;
};

const LEVELS = ["INFO", "INFO", "INFO", "INFO", "DEBUG", "DEBUG", "WARN", "ERROR"];
const logBlock: BlockWriter = (rng, state) => {
  const lines: string[] = [];
  for (let i = rng.range(4, 20); i > 0; i--) {
    state.n += rng.range(1, 4000);
    const t = new Date(Date.UTC(2024, 2, 1) + state.n * 37).toISOString();
    const level = rng.pick(LEVELS);
    const message = rng.lex.messages[skewed(rng, rng.lex.messages.length)]!;
    const kv = message.keys.map(
      (key) => `${key}=${rng.int(6) === 0 ? hex(rng, rng.pick([8, 12, 16])) : rng.int(2) ? rng.range(0, 9999) : techWord(rng)}`,
    );
    lines.push(`${t} ${level.padEnd(5)} [${techWord(rng)}-${rng.range(0, 15)}] ${message.text} ${kv.join(" ")}`);
    if (level === "ERROR" && rng.int(2) === 0) {
      for (let j = rng.range(2, 6); j > 0; j--)
        lines.push(`    at ${camel(rng, 2)} (src/${techWord(rng)}/${techWord(rng)}.ts:${rng.range(1, 900)}:${rng.range(1, 80)})`);
    }
  }
  return lines;
};

function codeStatement(rng: TextRng, lang: "ts" | "py" | "c" | "sh", indent: string): string {
  const v = lang === "py" || lang === "sh" ? snake(rng, rng.range(1, 3)) : camel(rng, rng.range(1, 3));
  const f = lang === "py" || lang === "sh" ? snake(rng, rng.range(2, 3)) : camel(rng, rng.range(2, 3));
  const a = lang === "py" || lang === "sh" ? snake(rng, rng.range(1, 2)) : camel(rng, rng.range(1, 2));
  switch (rng.int(7)) {
    case 0:
      return `${indent}${lang === "c" ? "/* " : lang === "ts" ? "// " : "# "}${sentence(rng)}${lang === "c" ? " */" : ""}`;
    case 1:
      if (lang === "py") return `${indent}if not ${a}:`;
      if (lang === "sh") return `${indent}if [ -z "$${a.toUpperCase()}" ]; then ${f} "$@"; fi`;
      return `${indent}if (!${a}) return ${rng.pick(["null", "0", "-1", "false", v])};`;
    case 2:
      if (lang === "sh") return `${indent}${a.toUpperCase()}="${configValue(rng).replace(/"/g, "")}"`;
      return `${indent}${lang === "ts" ? "const " : lang === "c" ? rng.pick(["int ", "size_t ", "char *", "struct node *"]) : ""}${v} = ${f}(${a}${rng.int(2) ? `, ${rng.range(0, 4096)}` : ""})${lang === "py" ? "" : ";"}`;
    case 3:
      if (lang === "sh") return `${indent}log "${words(rng, rng.range(2, 7))}"`;
      return `${indent}${lang === "py" ? "logger" : lang === "c" ? "fprintf(stderr, " : "log"}${lang === "c" ? "" : lang === "py" ? ".info(" : ".info("}"${words(rng, rng.range(2, 7))}: %s", ${v})${lang === "py" ? "" : ";"}`;
    case 4:
      if (lang === "sh") return `${indent}${f} "${a}" >>"$LOG" 2>&1`;
      return `${indent}${lang === "py" ? "" : ""}${a}.${camel(rng, 1)} = ${rng.int(2) ? v : rng.range(0, 255)}${lang === "py" ? "" : ";"}`;
    case 5:
      if (lang === "sh") return `${indent}for f in "${configValue(rng).replace(/"/g, "")}"/*; do ${f} "$f"; done`;
      return `${indent}return ${f}(${a}, ${v})${lang === "py" ? "" : ";"}`;
    default:
      if (lang === "sh") return `${indent}${f} --${snake(rng, 1)} "${a}" || exit ${rng.range(1, 4)}`;
      return `${indent}${lang === "ts" ? "await " : ""}${f}(${a}${lang === "py" ? `, ${snake(rng, 1)}=${rng.range(0, 100)}` : ""})${lang === "py" ? "" : ";"}`;
  }
}

function codeBlock(lang: "ts" | "py" | "c" | "sh"): BlockWriter {
  return (rng, state) => {
    const lines: string[] = [];
    if (state.n++ === 0) {
      if (lang === "ts")
        for (let i = rng.range(1, 5); i > 0; i--) lines.push(`import { ${camel(rng, 2)} } from "./${techWord(rng)}-${techWord(rng)}.ts";`);
      if (lang === "py")
        for (let i = rng.range(1, 5); i > 0; i--) lines.push(`from ${techWord(rng)}.${techWord(rng)} import ${snake(rng, 2)}`);
      if (lang === "c")
        for (let i = rng.range(1, 5); i > 0; i--)
          lines.push(`#include ${rng.int(2) ? `<${techWord(rng)}.h>` : `"${techWord(rng)}_${techWord(rng)}.h"`}`);
      if (lang === "sh") lines.push("#!/bin/sh", "set -eu", `LOG=/var/log/${techWord(rng)}.log`);
    }
    lines.push("");
    const name = lang === "py" || lang === "sh" ? snake(rng, rng.range(2, 3)) : camel(rng, rng.range(2, 3));
    const args = Array.from({ length: rng.range(0, 3) }, () => (lang === "py" ? snake(rng, 1) : camel(rng, 1)));
    if (rng.int(2) === 0)
      lines.push(
        ...wrap(sentence(rng) + " " + sentence(rng), 74).map((l) => (lang === "c" ? ` * ${l}` : lang === "ts" ? `// ${l}` : `# ${l}`)),
      );
    if (lang === "ts")
      lines.push(
        `export ${rng.int(3) === 0 ? "async " : ""}function ${name}(${args.map((a) => `${a}: ${rng.pick(["string", "number", "Buffer", "Options"])}`).join(", ")}) {`,
      );
    if (lang === "py") lines.push(`def ${name}(${["self", ...args].join(", ")}):`);
    if (lang === "c")
      lines.push(
        `static int ${name}(${args.map((a) => `${rng.pick(["int", "const char *", "size_t", "void *"])} ${a}`).join(", ") || "void"})`,
        "{",
      );
    if (lang === "sh") lines.push(`${name}() {`);
    const indent = lang === "py" ? "    " : lang === "c" ? "\t" : "  ";
    for (let i = rng.range(3, 14); i > 0; i--) {
      const s = codeStatement(rng, lang, indent);
      lines.push(s);
      if (lang === "py" && s.endsWith(":")) lines.push(codeStatement(rng, lang, indent + indent).replace(/^(\s*)#/, "$1pass  #"));
    }
    if (lang !== "py") lines.push("}");
    return lines;
  };
}

const mdBlock: BlockWriter = (rng, state) => {
  const lines: string[] = [];
  const title = words(rng, rng.range(2, 6));
  lines.push(`${state.n++ === 0 ? "#" : "##"} ${title[0]!.toUpperCase()}${title.slice(1)}`, "");
  for (let p = rng.range(1, 3); p > 0; p--) {
    lines.push(...wrap(Array.from({ length: rng.range(2, 6) }, () => sentence(rng)).join(" ")), "");
  }
  if (rng.int(3) === 0) {
    for (let i = rng.range(2, 6); i > 0; i--) lines.push(`- ${sentence(rng)}`);
    lines.push("");
  }
  if (rng.int(4) === 0) lines.push("```sh", `${snake(rng, 1)} --${techWord(rng)} ${configValue(rng)}`, "```", "");
  return lines;
};

const txtBlock: BlockWriter = (rng) => [...wrap(Array.from({ length: rng.range(3, 9) }, () => sentence(rng)).join(" ")), ""];

const csvBlock: BlockWriter = (rng, state) => {
  const lines: string[] = state.n === 0 ? ["id,name,city,amount,created_at,status"] : [];
  for (let i = rng.range(5, 25); i > 0; i--) {
    state.n++;
    lines.push(
      `${1000 + state.n},${rng.pick(NAMES)} ${techWord(rng)},${rng.pick(NAMES)},${rng.range(0, 99999) / 100},2024-0${rng.range(1, 9)}-${String(rng.range(1, 28)).padStart(2, "0")},${rng.pick(["active", "closed", "pending"])}`,
    );
  }
  return lines;
};

const htmlBlock: BlockWriter = (rng, state) => {
  const lines: string[] =
    state.n++ === 0
      ? ["<!doctype html>", `<html lang="en"><head><meta charset="utf-8"><title>${words(rng, 3)}</title></head>`, "<body>"]
      : [];
  lines.push(`  <section class="${techWord(rng)}-${techWord(rng)}">`, `    <h2>${words(rng, rng.range(2, 5))}</h2>`);
  for (let i = rng.range(1, 4); i > 0; i--)
    lines.push(`    <p>${sentence(rng)} <a href="/${techWord(rng)}/${techWord(rng)}.html">${words(rng, 2)}</a> ${sentence(rng)}</p>`);
  lines.push("  </section>");
  return lines;
};

export type TextKind = "conf" | "yaml" | "json" | "log" | "ts" | "py" | "c" | "sh" | "md" | "txt" | "csv" | "html";

const WRITERS: Record<TextKind, BlockWriter> = {
  conf: confBlock,
  yaml: yamlBlock,
  json: jsonBlock,
  log: logBlock,
  ts: codeBlock("ts"),
  py: codeBlock("py"),
  c: codeBlock("c"),
  sh: codeBlock("sh"),
  md: mdBlock,
  txt: txtBlock,
  csv: csvBlock,
  html: htmlBlock,
};

/** Kinds of small files with their file extension and share of the file count. */
export const TEXT_KINDS: readonly { kind: TextKind; ext: string; weight: number }[] = [
  { kind: "conf", ext: ".conf", weight: 12 },
  { kind: "yaml", ext: ".yaml", weight: 8 },
  { kind: "json", ext: ".json", weight: 6 },
  { kind: "log", ext: ".log", weight: 12 },
  { kind: "ts", ext: ".ts", weight: 14 },
  { kind: "py", ext: ".py", weight: 10 },
  { kind: "c", ext: ".c", weight: 7 },
  { kind: "sh", ext: ".sh", weight: 4 },
  { kind: "md", ext: ".md", weight: 14 },
  { kind: "txt", ext: ".txt", weight: 5 },
  { kind: "csv", ext: ".csv", weight: 4 },
  { kind: "html", ext: ".html", weight: 4 },
];

/**
 * A whole file of this kind, about targetBytes long (cut at a line end), ending with a newline; a pure
 * function of label (and of the vocabulary's label, by default the same). ASCII only.
 */
export function textFile(kind: TextKind, label: string, targetBytes: number, vocabularyLabel = label): string {
  const rng = new TextRng(label, lexiconOf(vocabularyLabel));
  const writer = WRITERS[kind];
  const state = { n: 0 };
  const lines: string[] = [];
  let size = 0;
  while (size < targetBytes) {
    for (const line of writer(rng, state)) {
      lines.push(line);
      size += line.length + 1;
      if (size >= targetBytes) break;
    }
  }
  if (kind === "json") lines.push("]");
  if (kind === "html") lines.push("</body></html>");
  return lines.join("\n") + "\n";
}

/** One non-empty line that could appear in the file textFile(kind, fileLabel) wrote, drawn by editLabel (what an edit writes). */
export function textLine(kind: TextKind, fileLabel: string, editLabel: string): string {
  const rng = new TextRng(editLabel, new Lexicon(fileLabel));
  const candidates = WRITERS[kind](rng, { n: 1 }).filter((l) => l.trim().length > 3);
  return candidates.length > 0 ? rng.pick(candidates) : sentence(rng);
}

/** A lowercase name made of 1-3 words, for folders and files. */
export function pathWord(rng: Rng, parts = 1): string {
  return Array.from({ length: parts }, () => rng.pick(rng.int(2) ? TECH : PROSE)).join(rng.int(2) ? "-" : "_");
}

/** Prose with no line structure, for text blocks inside binaries and disk images; a pure function of label. */
export function prose(label: string, targetBytes: number): string {
  const rng = new Rng(label);
  const parts: string[] = [];
  let size = 0;
  while (size < targetBytes) {
    const s = sentence(rng);
    parts.push(s);
    size += s.length + 1;
  }
  return parts.join(" ");
}
