/**
 * Reading request bodies under a size limit, shared by the data plane (`src/proxy/body.ts`) and the
 * control plane's body-limit middleware: bytes are counted as they arrive, so a body without (or
 * with a lying) Content-Length cannot pass the limit either.
 */
import { ApiError } from "../errors";

/** 413 `request_too_large` for a body over `limit` bytes. */
export function bodyTooLarge(limit: number): ApiError {
  return new ApiError("request_too_large", `Request body exceeds the limit of ${limit} bytes`);
}

/** Reads a body stream to the end, counting every chunk; throws 413 as soon as it passes `limit`. */
export async function readCapped(body: ReadableStream<Uint8Array>, limit: number): Promise<Uint8Array> {
  const reader = body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      throw bodyTooLarge(limit);
    }
    parts.push(value);
  }
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}
