// The session an upload started during the handshake goes through: the tick's first session, still opening.
import { PROTOCOL_VERSION } from "../../protocol/constants.ts";
import type { SecureSession } from "../../session/secure-session.ts";

/** What an upload's pages and chunks go through: an open session, or one still opening (OpeningSession). */
export type FrameSession = Pick<SecureSession, "version" | "sendBinary" | "expectBinary">;

/**
 * The tick's first session while its handshake and probe are under way (tick.ts): the first source's
 * upload reads and chunks its tree meanwhile, as if the session spoke the version this client asks for.
 * Every frame waits for the open session; the upload sends nothing before its offer is answered anyway,
 * and is dropped (read again) when the session settled on an older version (`matches`).
 */
export class OpeningSession implements FrameSession {
  readonly version = PROTOCOL_VERSION;

  /** `open`: the session the tick opens; its rejection fails every frame. */
  constructor(readonly open: Promise<SecureSession>) {
    open.catch(() => undefined); // the tick reports it
  }

  /** True when `session`, the one opened, speaks the version the upload took for granted. */
  matches(session: SecureSession): boolean {
    return session.version === this.version;
  }

  async sendBinary(type: number, payload: Uint8Array): Promise<void> {
    return (await this.open).sendBinary(type, payload);
  }

  async expectBinary(type: number, timeoutMs: number): Promise<Uint8Array> {
    return (await this.open).expectBinary(type, timeoutMs);
  }
}
