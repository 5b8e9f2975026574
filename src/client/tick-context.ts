// What a tick runs on (config, identity, state, log, how to connect), built for `client --once` and for each reload of the daemon.
import type { TickContext } from "./tick.ts";
import { ClientState } from "./state.ts";
import { resolveServer } from "./command-session.ts";
import { connectTcp } from "../io/framed-socket.ts";
import { loadKeyFile } from "../io/key-file.ts";
import { createLogger, type LoggerOptions } from "../io/log.ts";
import type { ClientConfig } from "../io/config-file.ts";
import { localTimeZone } from "../io/local-time-zone.ts";
import { nextScheduledTick, tickSchedule, type TickSchedule } from "../config/tick-schedule.ts";

const CONNECT_TIMEOUT_MS = 10_000;

/** What a tick needs for `config`; state and log are reused from `previous` when its state folder and name are the same. */
export function tickContext(config: ClientConfig, previous?: TickContext, logOptions: LoggerOptions = {}): TickContext {
  const { client } = config;
  const reuse = previous && previous.config.client.state === client.state && previous.config.client.name === client.name;
  const state = reuse ? previous.state : new ClientState(client.state);
  state.init();
  const log = reuse ? previous.log : createLogger(state.logFile, { client: client.name }, logOptions);
  // Made only when a BUSY asks how long to wait: the machine's time zone costs ~25 ms of CPU (Intl) before the connect.
  let schedule: TickSchedule | undefined;
  const nextTick = (startMs: number) => nextScheduledTick((schedule ??= tickSchedule(client, localTimeZone())), startMs);
  return {
    config,
    identity: loadKeyFile(client.key),
    log,
    state,
    connect: async () => {
      const { host, port } = await resolveServer(client);
      return connectTcp(host, port, CONNECT_TIMEOUT_MS);
    },
    now: () => new Date(),
    // client.busyWindow, else until the next scheduled tick: a tick never waits into the next one.
    busyUntil: (startMs) => (client.busyWindowMs === null ? nextTick(startMs) : startMs + client.busyWindowMs),
  };
}
