// The machine's time zone, the one cron schedules are read in when client.timezone is absent.

/** The IANA name the runtime reads from TZ, else /etc/localtime (read once per process); "UTC" when it knows none. */
export function localTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}
