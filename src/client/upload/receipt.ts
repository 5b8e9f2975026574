// Checks a receipt the server signed and keeps it under the client's state.
import { HashRelayError } from "../../errors.ts";
import { verifyDocument, type SignedDoc } from "../../protocol/signed-document.ts";
import type { UploadContext } from "./upload-context.ts";

/**
 * Verifies the server's signature and that the receipt is for what was sent (`archiveId`: unchecked
 * when undefined); keeps it under state/receipts and returns its body. Throws UNAUTHORIZED for a bad
 * signature, BAD_FRAME for a receipt of something else.
 */
export async function checkReceipt(
  receipt: SignedDoc,
  client: string,
  name: string,
  archiveId: string | undefined,
  ctx: Pick<UploadContext, "serverKey" | "state">,
) {
  const body = verifyDocument(receipt, ctx.serverKey, "receipt");
  if (body.client !== client || body.name !== name || (archiveId !== undefined && body.archiveId !== archiveId)) {
    throw new HashRelayError("BAD_FRAME", `receipt is for ${body.client}/${body.name} ${body.archiveId}, not for what was sent`);
  }
  await ctx.state.saveReceipt(name, body.file, receipt);
  return body;
}
