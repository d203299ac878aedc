/**
 * Reads a JSON request body under the size limit (MAX_BODY_BYTES → 413 `request_too_large`),
 * counting bytes as they arrive so a body without Content-Length cannot exceed it either.
 */
import type { z } from "zod";
import { ApiError } from "../errors";
import { bodyTooLarge, readCapped } from "../lib/read-capped";

const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** The raw body bytes, at most `maxBytes`. */
export async function readBodyLimited(req: Request, maxBytes: number): Promise<Uint8Array> {
  const declared = req.headers.get("content-length");
  if (declared !== null && Number(declared) > maxBytes) throw bodyTooLarge(maxBytes);
  if (!req.body) return new Uint8Array(0);
  // A declared length within the limit is enforced by the runtime: read in one native call.
  if (declared !== null) return new Uint8Array(await req.arrayBuffer());
  return readCapped(req.body, maxBytes);
}

/**
 * Parses and validates a JSON object body. Returns the ORIGINAL parsed object (unknown fields intact).
 * `prepare` may rewrite the object before the schema sees it (prompt templates render messages there).
 */
export async function readJsonObject<S extends z.ZodType>(
  req: Request,
  maxBytes: number,
  schema: S,
  prepare?: (body: Record<string, unknown>) => Promise<void>,
): Promise<{ body: Record<string, unknown>; parsed: z.infer<S> }> {
  const ct = req.headers.get("content-type");
  if (ct && !/^application\/(?:[\w.+-]*\+)?json\b/i.test(ct.trim())) {
    throw new ApiError("invalid_request", "Content-Type must be application/json", { param: null });
  }
  const bytes = await readBodyLimited(req, maxBytes);
  let body: unknown;
  try {
    body = JSON.parse(decoder.decode(bytes));
  } catch {
    throw new ApiError("invalid_request", bytes.byteLength === 0 ? "Request body is empty; expected a JSON object" : "Request body is not valid UTF-8 JSON", { param: null });
  }
  if (!body || typeof body !== "object" || Array.isArray(body)) throw new ApiError("invalid_request", "Request body must be a JSON object", { param: null });
  if (prepare) await prepare(body as Record<string, unknown>);
  const result = schema.safeParse(body);
  if (!result.success) {
    const issue = result.error.issues[0];
    const param = issue && issue.path.length ? issue.path.map(String).join(".") : null;
    throw new ApiError("invalid_request", issue ? `${param ? `${param}: ` : ""}${issue.message}` : "Invalid request body", { param });
  }
  return { body: body as Record<string, unknown>, parsed: result.data };
}
