const p = JSON.parse(require("fs").readFileSync(process.argv[2], "utf8"));
const byId = new Map<number, any>(p.nodes.map((n: any) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const self = new Map<string, number>(),
  incl = new Map<string, number>();
let total = 0;
p.samples.forEach((s: number, i: number) => {
  const dt = Math.min(p.timeDeltas[i + 1] ?? 0, 4000) / 1000;
  total += dt;
  const n = byId.get(s);
  const name = (x: any) =>
    `${x.callFrame.functionName || "(anon)"} ${x.callFrame.url.split("/").slice(-2).join("/")}:${x.callFrame.lineNumber}`;
  self.set(name(n), (self.get(name(n)) ?? 0) + dt);
  const seen = new Set<string>();
  for (let id: number | undefined = s; id !== undefined; id = parent.get(id)) {
    const k = name(byId.get(id));
    if (!seen.has(k)) {
      seen.add(k);
      incl.set(k, (incl.get(k) ?? 0) + dt);
    }
  }
});
console.log("total ms", total.toFixed(0));
const top = (m: Map<string, number>, k: number) =>
  [...m]
    .sort((a, b) => b[1] - a[1])
    .slice(0, k)
    .map(([n, v]) => `${v.toFixed(0).padStart(6)} ${n}`)
    .join("\n");
console.log("--- self\n" + top(self, 25));
console.log("--- inclusive\n" + top(incl, 60));
