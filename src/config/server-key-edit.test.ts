// setServerKeyText: only the key's characters change, in the quoting the file used.
import { describe, expect, test } from "bun:test";
import { HashRelayError } from "../errors.ts";
import { setServerKeyText } from "./server-key-edit.ts";

const OLD = "ed25519:" + "A".repeat(43) + "=";
const NEW = "ed25519:" + "b+/9".repeat(10) + "xyz=";

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return (err as HashRelayError).code;
  }
  return "none";
}

describe("setServerKeyText", () => {
  test("replaces a double-quoted key, keeping comments and every other byte", () => {
    const text = `# the NAS\nversion: 1\nclient:\n  name: web01   # this machine\n  serverKey: "${OLD}"  # pinned at install\n  key: ./client.key\n`;
    expect(setServerKeyText(text, NEW)).toBe(text.replace(OLD, NEW));
  });

  test("keeps single quotes, plain scalars and flow mappings as they were", () => {
    for (const text of [
      `client:\n  serverKey: '${OLD}'\n  name: a\n`,
      `client:\n  serverKey: ${OLD}\n  name: a\n`,
      `client: { name: a, serverKey: "${OLD}" }\n`,
    ])
      expect(setServerKeyText(text, NEW)).toBe(text.replace(OLD, NEW));
  });

  test("a file without client.serverKey, or not YAML, is CONFIG and nothing is made up", () => {
    expect(code(() => setServerKeyText("server:\n  key: ./k\n", NEW))).toBe("CONFIG");
    expect(code(() => setServerKeyText("client:\n  name: a\n", NEW))).toBe("CONFIG");
    expect(code(() => setServerKeyText("client: [\n", NEW))).toBe("CONFIG");
  });
});
