import { describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseCredentialsFile, readCredentialsFile, s3EnvironmentFrom } from "./s3-credentials.ts";

const FILE = `# written by the admin
[other]
aws_access_key_id = OTHER
aws_secret_access_key = other-secret

[default]
aws_access_key_id = AKIDEXAMPLE
aws_secret_access_key=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
`;

describe("parseCredentialsFile", () => {
  test("reads the asked profile of an AWS credentials file", () => {
    expect(parseCredentialsFile(FILE, "c")).toEqual({
      accessKeyId: "AKIDEXAMPLE",
      secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    });
    expect(parseCredentialsFile(FILE, "c", "other")).toEqual({ accessKeyId: "OTHER", secretAccessKey: "other-secret" });
  });

  test("a missing profile, half a key pair or a stray line is a KEY error naming the file", () => {
    expect(() => parseCredentialsFile(FILE, "c", "nope")).toThrow("c: profile [nope] lacks aws_access_key_id");
    expect(() => parseCredentialsFile("[default]\naws_access_key_id = A\n", "c")).toThrow("lacks aws_secret_access_key");
    expect(() => parseCredentialsFile("[default]\nnonsense\n", "c")).toThrow("c:2: not a");
  });
});

describe("s3EnvironmentFrom", () => {
  test("reads the standard AWS variables; unset ones stay absent", () => {
    const env = { AWS_ACCESS_KEY_ID: "A", AWS_SECRET_ACCESS_KEY: "S", AWS_REGION: "eu-1", AWS_ENDPOINT_URL: "http://127.0.0.1:7480" };
    expect(s3EnvironmentFrom(env)).toEqual({
      credentials: { accessKeyId: "A", secretAccessKey: "S" },
      region: "eu-1",
      endpoint: "http://127.0.0.1:7480",
    });
    expect(s3EnvironmentFrom({ AWS_DEFAULT_REGION: "x", AWS_ACCESS_KEY_ID: "" })).toEqual({ region: "x" });
    expect(() => s3EnvironmentFrom({ AWS_ACCESS_KEY_ID: "A" })).toThrow("AWS_SECRET_ACCESS_KEY is not set");
  });
});

describe("readCredentialsFile", () => {
  test("reads a 0600 file; refuses one that group or others can read, with the chmod to run", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hashrelay-s3-creds-"));
    try {
      const file = path.join(dir, "credentials");
      fs.writeFileSync(file, FILE, { mode: 0o600 });
      expect(readCredentialsFile(file).accessKeyId).toBe("AKIDEXAMPLE");
      fs.chmodSync(file, 0o640);
      expect(() => readCredentialsFile(file)).toThrow(`credentials file ${file} is readable by group or others (mode 0640)`);
      expect(() => readCredentialsFile(path.join(dir, "missing"))).toThrow("not found");
    } finally {
      fs.rmSync(dir, { recursive: true });
    }
  });
});
