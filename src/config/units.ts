// Durations ("30s", "15m", "48h", "7d") and sizes ("512KiB", "8MiB"): read as written in the config, written for people.

const DURATION_UNITS_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const SIZE_UNITS_BYTES: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4 };

/** "48h" → 172800000 ms. Whole number + one of s, m, h, d; null for anything else or beyond Number.MAX_SAFE_INTEGER ms. */
export function parseDuration(text: string): number | null {
  const m = /^([0-9]+)(s|m|h|d)$/.exec(text);
  if (!m) return null;
  const ms = Number(m[1]) * DURATION_UNITS_MS[m[2]!]!;
  return Number.isSafeInteger(ms) ? ms : null;
}

/** "8MiB" → 8388608. Whole number of bytes, optionally with B, KiB, MiB, GiB or TiB; null for anything else or beyond Number.MAX_SAFE_INTEGER. */
export function parseSize(text: string): number | null {
  const m = /^([0-9]+)(B|KiB|MiB|GiB|TiB)?$/.exec(text);
  if (!m) return null;
  const bytes = Number(m[1]) * SIZE_UNITS_BYTES[m[2] ?? "B"]!;
  return Number.isSafeInteger(bytes) ? bytes : null;
}

/** ms → the largest of d, h, m, s that divides it exactly ("2d", "90m"), else "<n>ms"; parseDuration reads back every whole-second result. */
export function formatDuration(ms: number): string {
  if (ms > 0 && Number.isInteger(ms)) {
    for (const unit of ["d", "h", "m", "s"]) {
      const size = DURATION_UNITS_MS[unit]!;
      if (ms % size === 0) return `${ms / size}${unit}`;
    }
  }
  return ms === 0 ? "0s" : `${ms}ms`;
}

/** "1.2 TiB", "512 MiB", "0 B": one decimal below 10 units, whole numbers above. */
export function formatSize(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 || value >= 10 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}
