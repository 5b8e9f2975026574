// Replaces client.serverKey in a config's text, leaving every other byte (comments, order, spacing) as it was.
import { isScalar, parseDocument, type Scalar } from "yaml";
import { HashRelayError } from "../errors.ts";
import { clientSection } from "./config-edit.ts";

/**
 * The text with the value of client.serverKey replaced by `key`, quoted as the old value was. Only that
 * value's characters differ. Throws CONFIG when the text is not YAML or has no client.serverKey scalar,
 * INTERNAL when the result would not read back as the old config with the new key.
 */
export function setServerKeyText(text: string, key: string): string {
  const { doc, client } = clientSection(text, "only a client's config pins a server key");
  const node = client.get("serverKey", true);
  if (!isScalar(node) || !node.range)
    throw new HashRelayError("CONFIG", "the file has no client.serverKey to replace", 'write it by hand: client.serverKey: "ed25519:..."');
  const [start, end] = node.range;
  const out = text.slice(0, start) + quoted(key, node.type) + text.slice(end);
  const before = doc.toJS() as { client: Record<string, unknown> };
  const after = parseDocument(out);
  if (
    after.errors.length > 0 ||
    JSON.stringify(after.toJS()) !== JSON.stringify({ ...before, client: { ...before.client, serverKey: key } })
  )
    throw new HashRelayError(
      "INTERNAL",
      "the edit would not read back as intended; the file was not changed",
      "edit client.serverKey by hand, then run hashrelay validate",
    );
  return out;
}

/** `key` written as a scalar of the old value's style (keys are base64: no quote or backslash to escape). */
function quoted(key: string, style: Scalar.Type | undefined): string {
  if (style === "QUOTE_SINGLE") return `'${key}'`;
  if (style === "PLAIN") return key;
  return JSON.stringify(key);
}
