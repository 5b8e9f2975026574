const src = new Uint8Array(256 * 1024).fill(7);
const sizes = Array.from({ length: 236 }, (_, i) => 40_000 + ((i * 7919) % 200_000));
for (let round = 0; round < 4; round++) {
  for (const [name, f] of [
    ["zeroed", (n: number) => new Uint8Array(n)],
    ["unsafeSlow", (n: number) => Buffer.allocUnsafeSlow(n)],
  ] as const) {
    const keep: Uint8Array[] = [];
    let t = performance.now();
    for (let r = 0; r < 5; r++)
      for (const n of sizes) {
        const b = f(n);
        b.set(src.subarray(0, n));
        keep.push(b);
        if (keep.length > 64) keep.shift();
      }
    t = performance.now() - t;
    console.log(name, (t / 5).toFixed(1), "ms per C-sized set");
  }
}
const b = Buffer.allocUnsafeSlow(100000);
console.log(b.byteOffset, b.buffer.byteLength);
