// How status lines show a time, for tests that match them.

/** A time as status lines show it: HH:MM, with the date in front when it is not today (a tick after midnight). */
export const HHMM = String.raw`(?:\d{4}-\d\d-\d\d )?\d\d:\d\d`;
