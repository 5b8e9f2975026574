// Pure: the retention rules (archives kept per name, time in the trash, suspect-replacement thresholds) and their checking.
import { HashRelayError } from "../errors.ts";
import { DEFAULT_SUSPECT_RULES, type SuspectRules } from "./suspect-replacement.ts";

export interface Retention {
  /** Archives kept per client and name (≥ 1); older ones go to the trash. */
  keep: number;
  /** How long a trashed archive waits before purgeTrash deletes it. */
  trashForMs: number;
  /** When a new archive is held as a suspect replacement (default DEFAULT_SUSPECT_RULES). */
  suspect?: SuspectRules;
}

export const DEFAULT_RETENTION: Retention = { keep: 1, trashForMs: 48 * 3600 * 1000, suspect: DEFAULT_SUSPECT_RULES };

/** `retention` checked, with its suspect rules filled in and copied. Throws CONFIG when keep < 1, trashForMs < 0 or a suspect rule is out of range. */
export function checkedRetention(retention: Retention): Retention {
  const { keep, trashForMs, suspect = DEFAULT_SUSPECT_RULES } = retention;
  if (!Number.isSafeInteger(keep) || keep < 1) {
    throw new HashRelayError("CONFIG", `retention.keep must be a whole number ≥ 1, got ${keep}`);
  }
  if (!Number.isFinite(trashForMs) || trashForMs < 0) {
    throw new HashRelayError("CONFIG", `retention.trashFor must be a duration ≥ 0, got ${trashForMs} ms`);
  }
  for (const key of ["maxShared", "ratioJump", "minRatio"] as const) {
    if (!Number.isFinite(suspect[key]) || suspect[key] < 0)
      throw new HashRelayError("CONFIG", `retention.suspect.${key} must be a number ≥ 0, got ${suspect[key]}`);
  }
  if (!Number.isSafeInteger(suspect.releaseAfter) || suspect.releaseAfter < 0) {
    throw new HashRelayError("CONFIG", `retention.suspect.releaseAfter must be a whole number ≥ 0, got ${suspect.releaseAfter}`);
  }
  return { keep, trashForMs, suspect: { ...suspect } };
}
