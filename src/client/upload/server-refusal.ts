// Why the server ended an upload, as the client reports it: the error it sent (even when a send hit the closed connection first), with a hint.
import { HashRelayError, isWireErrorCode } from "../../errors.ts";
import type { SecureSession } from "../../session/secure-session.ts";

/** How long to wait for a frame still on its way once the connection failed (the error comes before the close). */
const REFUSAL_WAIT_MS = 2_000;

/** What the user can do about a refusal; the server's message says what was short. */
const HINTS: Partial<Record<HashRelayError["code"], string>> = {
  NO_SPACE: "the server's storage is full: its admin frees space or lowers server.minFree; the next tick retries",
  QUOTA: "this client's quota on the server is used up: its admin raises server.clients[].quota, or back up less; the next tick retries",
  BUSY: "the server is still receiving another upload of this client; the next tick retries",
};

/**
 * The error to report for an upload that failed with `error`. A server that refuses mid-upload sends
 * its error, then closes; a client busy sending chunks meets the closed connection (CLOSED) before it
 * reads that error, or a NEED it was waiting for read it and the failed send was reported first. Then
 * the server's error is taken from the session (SecureSession.peerRefusal), or read from the frames
 * already received (the NEEDs before it skipped), and returned with its hint; else `error` (given a
 * hint when it is a refusal without one). Never throws.
 */
export async function serverRefusal(session: SecureSession, error: HashRelayError): Promise<HashRelayError> {
  let refusal = error;
  if (error.code === "CLOSED" && session.peerRefusal) refusal = session.peerRefusal;
  else if (error.code === "CLOSED") {
    for (;;) {
      try {
        await session.receive(REFUSAL_WAIT_MS);
      } catch (err) {
        // SecureSession.receive throws what the peer sent as "peer refused: …"; anything else is this end's.
        if (err instanceof HashRelayError && isWireErrorCode(err.code) && err.message.startsWith("peer refused")) refusal = err;
        break;
      }
    }
  }
  const hint = HINTS[refusal.code];
  return hint && !refusal.hint ? new HashRelayError(refusal.code, refusal.message, hint, { cause: refusal }) : refusal;
}
