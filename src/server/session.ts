// One connection on the server: the handshake, then the session's conversation until `bye`, an error or silence.
import { asHashRelayError, isWireErrorCode, type HashRelayError } from "../errors.ts";
import type { Connection } from "../session/connection.ts";
import { openServerSession } from "../session/secure-session.ts";
import { ServerConversation } from "./conversation.ts";
import { clientLogger, type ServerSecureSession, type ServerSessionContext, type SessionScope } from "./session-context.ts";

export type { ServerSessionContext, SessionEvents } from "./session-context.ts";

/** Serves one connection until `bye`, an error, or silence. Never throws; never touches storage on a wire error. */
export async function serveConnection(connection: Connection, ctx: ServerSessionContext): Promise<void> {
  const session = await authenticate(connection, ctx);
  if (!session) return;
  const client = session.clientName;
  const scope: SessionScope = { session, client, ctx, log: clientLogger(ctx.log, client) };
  scope.log.log("info", `session opened from ${connection.remote}`);
  ctx.events?.sessionOpened?.(client, connection.remote);

  const conversation = new ServerConversation(scope);
  let endedBy: string | null = null;
  const untrack = ctx.track?.(client, session.clientKey, (code, reason) => {
    endedBy = reason;
    void session.fail(code, code === "UNAUTHORIZED" ? "unauthorized" : reason);
  });
  try {
    await conversation.run();
    scope.log.log("info", "session closed");
    connection.close();
  } catch (err) {
    await conversation.abandon();
    await endFailedSession(scope, asHashRelayError(err), endedBy);
  } finally {
    untrack?.();
    await conversation.close();
  }
}

/** The authenticated session, or null when the handshake did not end in one (logged, told, connection closed). */
async function authenticate(connection: Connection, ctx: ServerSessionContext): Promise<ServerSecureSession | null> {
  try {
    return await openServerSession(connection, ctx.identity, {
      authorize: ctx.authorize,
      admit: ctx.admit,
      helloTimeoutMs: ctx.helloTimeoutMs,
      handshakeTimeoutMs: ctx.handshakeTimeoutMs,
      versions: ctx.versions,
    });
  } catch (err) {
    const error = asHashRelayError(err, "BAD_FRAME");
    if (ctx.refused) ctx.refused(error, connection.remote);
    else ctx.log.log("warn", `handshake from ${connection.remote} refused: ${error.code}: ${error.message}`, { peer: connection.remote });
    ctx.events?.handshakeRefused?.(error.code);
    connection.close();
    return null;
  }
}

/**
 * Closes a session that ended on `error`: quietly when a reload ended it (`endedBy`, its error already
 * sent) or the peer is gone or silent; else with the error sent sealed, where UNAUTHORIZED says no
 * more than "unauthorized" and a code that is not a wire code goes as BAD_FRAME. Never throws.
 */
async function endFailedSession(scope: SessionScope, error: HashRelayError, endedBy: string | null): Promise<void> {
  const { session, log } = scope;
  if (endedBy) {
    log.log("warn", `session ended: ${endedBy}`);
    session.connection.close();
  } else if (error.code === "CLOSED" || error.code === "TIMEOUT") {
    log.log("warn", `session ended: ${error.message}`);
    session.connection.close();
  } else {
    log.log("warn", `session refused: ${error.code}: ${error.message}`);
    await session.fail(
      isWireErrorCode(error.code) ? error.code : "BAD_FRAME",
      error.code === "UNAUTHORIZED" ? "unauthorized" : error.message,
    );
  }
}
