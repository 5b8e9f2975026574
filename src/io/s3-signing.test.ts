import { describe, expect, test } from "bun:test";
import { EMPTY_PAYLOAD_HASH, signRequest, uriEncode } from "./s3-signing.ts";

const EXAMPLE_KEYS = { accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" };

describe("signRequest", () => {
  test("AWS's published S3 example (GET /test.txt, Range bytes=0-9) gives its published signature", () => {
    const signed = signRequest(
      {
        method: "GET",
        url: new URL("https://examplebucket.s3.amazonaws.com/test.txt"),
        headers: { host: "examplebucket.s3.amazonaws.com", range: "bytes=0-9" },
        payloadHash: EMPTY_PAYLOAD_HASH,
        region: "us-east-1",
        at: new Date("2013-05-24T00:00:00Z"),
      },
      EXAMPLE_KEYS,
    );
    expect(signed.authorization).toBe(
      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request," +
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date," +
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
    );
    expect(signed["x-amz-date"]).toBe("20130524T000000Z");
  });

  test("a session token is sent and signed; the query is signed in sorted order", () => {
    const request = {
      method: "POST",
      url: new URL("http://127.0.0.1:7480/b/k?uploads"),
      headers: { host: "127.0.0.1:7480" },
      payloadHash: EMPTY_PAYLOAD_HASH,
      region: "default",
      at: new Date("2026-01-02T03:04:05.678Z"),
    };
    const signed = signRequest(request, { ...EXAMPLE_KEYS, sessionToken: "token" });
    expect(signed["x-amz-security-token"]).toBe("token");
    expect(signed.authorization).toContain("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,");
    const reordered = signRequest({ ...request, url: new URL("http://127.0.0.1:7480/b/k?uploadId=1&partNumber=2") }, EXAMPLE_KEYS);
    const ordered = signRequest({ ...request, url: new URL("http://127.0.0.1:7480/b/k?partNumber=2&uploadId=1") }, EXAMPLE_KEYS);
    expect(reordered.authorization).toBe(ordered.authorization);
  });
});

describe("uriEncode", () => {
  test("encodes all but unreserved characters; keeps / only in a key path", () => {
    expect(uriEncode("a b+c/d~e_f.g-h!'()*")).toBe("a%20b%2Bc%2Fd~e_f.g-h%21%27%28%29%2A");
    expect(uriEncode("dir/ü=x", true)).toBe("dir/%C3%BC%3Dx");
  });
});
