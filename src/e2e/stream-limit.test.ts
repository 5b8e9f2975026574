// End to end: server.limits.streams decides whether send-manifest grants a chunk stream (PROTOCOL.md §8.10), on the real binary.
import { afterEach, describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { FrameType } from "../protocol/constants.ts";
import { decodeControl } from "../protocol/messages.ts";
import { makeWorld, startServer, tempDir, type ServerProcess } from "../testing/e2e-harness.ts";
import { authenticatedPeer } from "../testing/raw-peer.ts";

const servers: ServerProcess[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.stop();
});

/** The `send-manifest` a server with `limits` lines (none: the defaults) answers an offer with. */
async function answerUnder(limits: string[]): Promise<Record<string, unknown>> {
  const data = path.join(tempDir("streams"), "docs");
  fs.mkdirSync(data);
  const world = await makeWorld([data]);
  if (limits.length) fs.appendFileSync(world.serverConfig, `  limits:\n${limits.map((l) => `    ${l}\n`).join("")}`);
  const server = await startServer(world);
  servers.push(server);
  const { peer, channel } = await authenticatedPeer(world.port, path.join(world.dir, "client.key"), world.serverPub);
  peer.send(channel.seal(FrameType.SEALED_CONTROL, new TextEncoder().encode('{"type":"offer","name":"docs"}')));
  const answer = decodeControl(channel.open((await peer.next())!)) as unknown as Record<string, unknown>;
  // gone mid-upload: the server ends the session at once (its stop would wait for the idle timeout)
  peer.socket.destroy();
  await peer.closed;
  return answer;
}

describe("server.limits.streams", () => {
  test("by default a version-6 upload may stream; streams: 0 grants none (a NAS short of CPU)", async () => {
    expect(await answerUnder([])).toEqual({ type: "send-manifest", stream: true });
    expect(await answerUnder(["streams: 0"])).toEqual({ type: "send-manifest" });
  });
});
