// The server's side of one session's conversation (PROTOCOL.md §10): its state, and what each message does in it.
import { HashRelayError } from "../errors.ts";
import { IDLE_TIMEOUT_MS } from "../protocol/constants.ts";
import type { CommitMessage, OfferMessage, PingMessage, ProveMessage } from "../protocol/messages.ts";
import type { Incoming } from "../session/secure-session.ts";
import { answerList } from "./archive-listing.ts";
import { answerFetch } from "./archive-fetch.ts";
import { DeltaSources } from "./delta-sources.ts";
import { answerHeldOffer, beginIncomingUpload, type IncomingUpload } from "./incoming-upload.ts";
import { answerProve, openProvenArchive, type ProvenArchive } from "./proof-answers.ts";
import type { SessionScope } from "./session-context.ts";

/**
 * Where a session stands. idle: between requests. uploading: from `send-manifest` to `commit`
 * (binary frames belong to the upload; offer, fetch, prove and list are refused). proving: idle with
 * the archive a verify challenges kept open for its next `prove`; ping, fetch and list keep it open.
 */
export type SessionState = { kind: "idle" } | { kind: "uploading"; upload: IncomingUpload } | { kind: "proving"; archive: ProvenArchive };

/**
 * One authenticated session's conversation. run() until the client says `bye`; a frame that does
 * not fit the state, or any failure, is thrown as a HashRelayError for the caller to send. Then
 * abandon() on failure, and close() in every case.
 */
export class ServerConversation {
  private state: SessionState = { kind: "idle" };
  private reportedHash: string | null = null;
  /** Whether this session has made the cache agree with the bucket for a read (refreshOnce). */
  private refreshed = false;
  private readonly deltaSources: DeltaSources;

  constructor(private readonly scope: SessionScope) {
    this.deltaSources = new DeltaSources(scope.ctx.store, scope.client);
  }

  /** Handles frames until `bye`. Throws TIMEOUT after the idle timeout, CLOSED, and what the handlers throw. */
  async run(): Promise<void> {
    for (;;) {
      const incoming = await this.scope.session.receive(this.scope.ctx.idleTimeoutMs ?? IDLE_TIMEOUT_MS);
      if ((await this.handle(incoming)) === "bye") return;
    }
  }

  /** Gives up an upload in progress (after a failure); never throws. */
  async abandon(): Promise<void> {
    if (this.state.kind === "uploading") await this.state.upload.abort();
  }

  /** Releases what the session holds open (delta source files, a proven archive); never throws. */
  async close(): Promise<void> {
    this.deltaSources.close();
    if (this.state.kind === "proving") await this.state.archive.source.close().catch(() => undefined);
  }

  /** One frame in the current state: "bye" when the client ends the session, else "more". */
  private async handle(incoming: Incoming): Promise<"bye" | "more"> {
    if (incoming.kind === "binary") {
      if (this.state.kind !== "uploading") throw new HashRelayError("BAD_FRAME", "binary frame outside an upload");
      await this.state.upload.receiveFrame(incoming.type, incoming.payload);
      return "more";
    }
    const message = incoming.message;
    switch (message.type) {
      case "bye":
        // A client that leaves mid-upload gives it up: its staged chunks join the pool, its name is free again.
        await this.abandon();
        if (this.state.kind === "uploading") this.state = { kind: "idle" };
        return "bye";
      case "ping":
        await this.ping(message);
        break;
      case "offer":
        await this.offer(message);
        break;
      case "commit":
        await this.commit(message);
        break;
      case "fetch":
        this.refuseDuringUpload("fetch");
        await this.refreshOnce();
        await answerFetch(this.scope, message);
        break;
      case "prove":
        await this.prove(message);
        break;
      case "list":
        this.refuseDuringUpload("list");
        await this.refreshOnce();
        await answerList(this.scope, message);
        break;
      default:
        throw new HashRelayError("BAD_FRAME", `unexpected message ${message.type}`);
    }
    return "more";
  }

  /** `pong`, in any state; a config hash the client reports is told once, and again when it changes. */
  private async ping(message: PingMessage): Promise<void> {
    if (message.configHash && message.configHash !== this.reportedHash) {
      this.reportedHash = message.configHash;
      this.scope.ctx.onConfigHash?.(this.scope.client, message.configHash);
    }
    await this.scope.session.sendControl({ type: "pong", id: message.id, serverTime: Date.now() });
  }

  /** idle or proving -> idle (`have`) or uploading (`send-manifest`); a proven archive is closed first. */
  private async offer(message: OfferMessage): Promise<void> {
    this.refuseDuringUpload("offer");
    await this.leaveProving();
    const answer = await answerHeldOffer(this.scope, message);
    if (answer === "have") return;
    const upload = await beginIncomingUpload(this.scope, message, this.deltaSources);
    // uploading before anything is sent: a failure from here on aborts the upload
    this.state = { kind: "uploading", upload };
    await upload.askForManifest(Boolean(message.base), answer.damaged);
  }

  /** uploading -> idle, with `receipt` or `have`. */
  private async commit(message: CommitMessage): Promise<void> {
    if (this.state.kind !== "uploading") throw new HashRelayError("BAD_FRAME", "commit without an upload");
    const { upload } = this.state;
    const manifest = upload.checkCommit(message);
    // From here the upload ends by itself, stored or not: nothing left to abort.
    this.state = { kind: "idle" };
    const commit = () => upload.commit(manifest, message.manifest);
    await (this.scope.ctx.commits ? this.scope.ctx.commits.run(commit) : commit());
  }

  /** idle or proving -> proving, on the archive `message` names (reopened only when it changes). */
  private async prove(message: ProveMessage): Promise<void> {
    this.refuseDuringUpload("prove");
    await this.refreshOnce();
    if (this.state.kind !== "proving" || this.state.archive.file !== message.file || this.state.archive.name !== message.name) {
      await this.leaveProving();
      this.state = { kind: "proving", archive: await openProvenArchive(this.scope, message.name, message.file) };
    }
    await answerProve(this.scope, this.state.archive, message);
  }

  /** proving -> idle, closing the challenged archive. */
  private async leaveProving(): Promise<void> {
    if (this.state.kind !== "proving") return;
    const { source } = this.state.archive;
    this.state = { kind: "idle" };
    await source.close();
  }

  /**
   * Before the session's first `list`, `fetch` or `prove` (ls, restore, verify) on an S3 storage: the
   * cache is made to agree with the bucket for this client (Store.refreshClient), as before an offer,
   * so a second server on the bucket answers from what the other one stored.
   */
  private async refreshOnce(): Promise<void> {
    if (this.refreshed) return;
    this.refreshed = true;
    await this.scope.ctx.store.refreshClient(this.scope.client, true);
  }

  private refuseDuringUpload(type: "offer" | "fetch" | "prove" | "list"): void {
    if (this.state.kind === "uploading") throw new HashRelayError("BAD_FRAME", `${type} during an upload`);
  }
}
