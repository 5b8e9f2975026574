// Test helper: the plaintext of every frame a SecureSession sends and reads, in the order the session saw them.
import { FrameType } from "../protocol/constants.ts";
import type { ControlMessage } from "../protocol/messages.ts";
import type { SecureSession } from "../session/secure-session.ts";

/**
 * One frame as the session saw it. `payload`: the binary plaintext, except for CHUNK and CHUNK_DELTA
 * frames, which keep only their u32 index (their members would hold the whole archive in memory).
 */
export type TracedFrame =
  | { dir: "sent" | "received"; kind: "control"; message: ControlMessage }
  | { dir: "sent" | "received"; kind: "binary"; type: number; payload: Uint8Array };

const CHUNK_TYPES: ReadonlySet<number> = new Set([FrameType.SEALED_CHUNK, FrameType.SEALED_CHUNK_DELTA]);

/**
 * Wraps `session`'s sendControl, sendBinary and receive (on the instance, nothing else changes) and
 * returns the list they append to. A frame is listed when it is handed to the connection (sent) or
 * read from it (received): the order the session itself sees, which for what it sends is the wire order.
 */
export function traceSession(session: SecureSession): TracedFrame[] {
  const frames: TracedFrame[] = [];
  const sendControl = session.sendControl.bind(session);
  const sendBinary = session.sendBinary.bind(session);
  const receive = session.receive.bind(session);
  session.sendControl = (message) => {
    frames.push({ dir: "sent", kind: "control", message });
    return sendControl(message);
  };
  session.sendBinary = (type, payload) => {
    frames.push({ dir: "sent", kind: "binary", type, payload: CHUNK_TYPES.has(type) ? payload.slice(0, 4) : payload });
    return sendBinary(type, payload);
  };
  session.receive = async (timeoutMs) => {
    const incoming = await receive(timeoutMs);
    if (incoming.kind === "control") frames.push({ dir: "received", kind: "control", message: incoming.message });
    else frames.push({ dir: "received", kind: "binary", type: incoming.type, payload: incoming.payload });
    return incoming;
  };
  return frames;
}
