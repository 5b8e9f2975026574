// How the store reports what it does: one event name and its fields per line (the server's Logger underneath).
import type { Level, LogFields } from "../io/log.ts";

export type StoreLog = (level: Level, event: string, fields: LogFields) => void;
