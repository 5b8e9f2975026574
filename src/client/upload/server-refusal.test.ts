// A refusal the server sent before it closed is what the client reports, whether or not something read it first.
import { afterEach, expect, test } from "bun:test";
import { HashRelayError } from "../../errors.ts";
import { FrameType } from "../../protocol/constants.ts";
import { Store } from "../../store/store.ts";
import { tempRoots } from "../../store/test-fixtures.ts";
import { CLIENT_NAME, openServedSession } from "../../testing/served-session.ts";
import { serverRefusal } from "./server-refusal.ts";

const newRoot = tempRoots("hr-refusal-");
const stores: Store[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
});

/** A session whose server refuses its next offer QUOTA (a quota of 0 bytes) and closes. */
async function refusedOffer() {
  const store = await Store.open(await newRoot(), { space: { minFreeBytes: 0, quotas: new Map([[CLIENT_NAME, 0]]) } });
  stores.push(store);
  const s = await openServedSession(store);
  await s.client.sendControl({ type: "offer", name: "etc" });
  await s.served;
  // the client, sending its next frame, meets the closed connection
  const closed = await s.client.sendBinary(FrameType.SEALED_MANIFEST, new Uint8Array(8)).then(
    () => null,
    (err: unknown) => err as HashRelayError,
  );
  expect(closed?.code).toBe("CLOSED");
  return { client: s.client, closed: closed! };
}

test("the error frame waiting behind a failed send is read and reported, with a hint", async () => {
  const { client, closed } = await refusedOffer();
  const reported = await serverRefusal(client, closed);
  expect(reported.code).toBe("QUOTA");
  expect(reported.message).toStartWith(`peer refused: ${CLIENT_NAME} uses 0 B of its 0 B quota`);
  expect(reported.hint).toContain("server.clients[].quota");
});

test("an error another reader took (a NEED awaited) is still the one reported", async () => {
  const { client, closed } = await refusedOffer();
  expect((await client.receive(1000).catch((err: HashRelayError) => err)) as HashRelayError).toMatchObject({ code: "QUOTA" });
  expect((await serverRefusal(client, closed)).code).toBe("QUOTA");
});

test("a connection that closed without a refusal stays CLOSED; a local failure is kept as it is", async () => {
  const store = await Store.open(await newRoot());
  stores.push(store);
  const s = await openServedSession(store);
  s.client.connection.close();
  const closed = new HashRelayError("CLOSED", "connection closed by peer");
  expect(await serverRefusal(s.client, closed)).toBe(closed);
  const local = new HashRelayError("SOURCE", "cannot read /etc/shadow");
  expect(await serverRefusal(s.client, local)).toBe(local);
});
