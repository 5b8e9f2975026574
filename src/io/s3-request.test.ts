// Limits and deadlines of S3 requests, against local loopback listeners that misbehave on purpose (a real RGW does not).
import { afterAll, describe, expect, test } from "bun:test";
import net from "node:net";
import { S3Client } from "./s3-client.ts";
import { MAX_ERROR_BODY, type S3Target, objectUrl, openS3Stream, sendS3 } from "./s3-request.ts";

const target = (endpoint: string, timeoutMs = 5_000): S3Target => ({
  endpoint,
  region: "default",
  bucket: "bucket",
  pathStyle: true,
  credentials: { accessKeyId: "A", secretAccessKey: "S" },
  timeoutMs,
});

/** A listener that accepts and never answers. */
const silent = net.createServer(() => {});
await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
const silentPort = (silent.address() as net.AddressInfo).port;
/** An HTTP server answering every request with an S3 error document of `size` bytes. */
const oversized = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch: (request) => {
    if (request.headers.get("range")) return new Response("the whole object, range ignored");
    if (new URL(request.url).pathname.endsWith("/stalls")) {
      // a body that sends its first bytes, then nothing, and never ends
      return new Response(new ReadableStream({ start: (controller) => controller.enqueue(new Uint8Array(10)) }));
    }
    const size = Number(new URL(request.url).searchParams.get("size"));
    const padding = "x".repeat(size); // the body is `size` bytes and a little more
    return new Response(`<Error><Code>SlowDown</Code><Message>${padding}</Message><RequestId>r1</RequestId></Error>`, { status: 503 });
  },
});
afterAll(() => {
  silent.close();
  oversized.stop(true);
});

describe("sendS3", () => {
  test("a silent endpoint fails with TIMEOUT after the deadline", async () => {
    const request = sendS3(target(`http://127.0.0.1:${silentPort}`, 300), { operation: "HeadObject", method: "HEAD", key: "k" });
    await expect(request).rejects.toMatchObject({ name: "S3Error", code: "TIMEOUT", s3Code: "Timeout" });
  });

  test("an error document is parsed; one over 64 KiB is refused before it is read", async () => {
    const endpoint = `http://127.0.0.1:${oversized.port}`;
    const small = sendS3(target(endpoint), { operation: "GetObject", method: "GET", key: "k", query: { size: "200" } });
    await expect(small).rejects.toMatchObject({ s3Code: "SlowDown", status: 503, requestId: "r1", code: "STORAGE" });
    const big = { operation: "GetObject", method: "GET" as const, key: "k", query: { size: String(MAX_ERROR_BODY + 1) } };
    await expect(sendS3(target(endpoint), big)).rejects.toMatchObject({ s3Code: "AnswerTooLarge" });
  });

  test("an endpoint that refuses connections is a NetworkError", async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const request = sendS3(target(`http://127.0.0.1:${port}`), { operation: "ListObjectsV2", method: "GET" });
    await expect(request).rejects.toMatchObject({ name: "S3Error", s3Code: "NetworkError" });
  });
});

describe("S3Client.getObject", () => {
  test("a ranged get answered with the whole object is refused, not taken for the range", async () => {
    const client = new S3Client(target(`http://127.0.0.1:${oversized.port}`));
    await expect(client.getObject("k", { start: 0, end: 4 })).rejects.toMatchObject({ s3Code: "RangeNotHonoured" });
  });
});

describe("openS3Stream", () => {
  test("a body that stops coming fails the stream with TIMEOUT after the deadline", async () => {
    const response = await openS3Stream(target(`http://127.0.0.1:${oversized.port}`, 300), {
      operation: "GetObject",
      method: "GET",
      key: "stalls",
    });
    await expect(response.arrayBuffer()).rejects.toMatchObject({ code: "TIMEOUT", s3Code: "Timeout" });
  });
});

describe("objectUrl", () => {
  test("path-style and virtual-host URLs, keys encoded once with / kept", () => {
    const path = target("http://127.0.0.1:7480");
    expect(objectUrl(path, "a b/c+d", { uploads: "" }).href).toBe("http://127.0.0.1:7480/bucket/a%20b/c%2Bd?uploads=");
    expect(objectUrl(path).href).toBe("http://127.0.0.1:7480/bucket");
    for (const key of ["", "a/../b", "./a", "a/."]) expect(() => objectUrl(path, key)).toThrow(RangeError);
    expect(objectUrl({ ...path, endpoint: "https://s3.example.org", pathStyle: false }, "k/v").href).toBe(
      "https://bucket.s3.example.org/k/v",
    );
  });
});
