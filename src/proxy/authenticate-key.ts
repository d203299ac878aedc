/**
 * Reads and checks the shape of the virtual key on a data-plane request, without any I/O: the key
 * carries its org id and key id (src/lib/virtual-key.ts), so the Worker knows which org's gate to
 * ask without touching D1. The gate then verifies the SHA-256 in constant time inside `admit`.
 */
import { ApiError } from "../errors";
import { sha256Hex } from "../lib/crypto";
import { parseVirtualKey } from "../lib/virtual-key";

export type PresentedKey = { orgId: string; keyId: string; keyHash: string };

const hashCache = new Map<string, string>();
const HASH_CACHE_MAX = 4096;

/**
 * The presented key from `Authorization: Bearer` (all endpoints) or `x-api-key` (Anthropic-native
 * `/v1/messages`). Throws 401 `invalid_api_key` when missing or malformed (checksum included).
 */
export async function presentedKey(headers: Headers, allowXApiKey: boolean): Promise<PresentedKey> {
  let raw: string | null = null;
  const auth = headers.get("authorization");
  if (auth) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (!m) throw new ApiError("invalid_api_key", "Authorization must be 'Bearer sk-tg-…'");
    raw = m[1]!;
  } else if (allowXApiKey) raw = headers.get("x-api-key");
  if (!raw) throw new ApiError("invalid_api_key", allowXApiKey ? "Missing API key: send 'x-api-key: sk-tg-…' or 'Authorization: Bearer sk-tg-…'" : "Missing API key: send 'Authorization: Bearer sk-tg-…'");
  const ids = parseVirtualKey(raw);
  if (!ids) throw new ApiError("invalid_api_key", "Malformed API key (expected a Tollgate key 'sk-tg-…')");
  // Hashing is cached per isolate: a hot key is hashed once, not on every request.
  let keyHash = hashCache.get(raw);
  if (!keyHash) {
    keyHash = await sha256Hex(raw);
    if (hashCache.size >= HASH_CACHE_MAX) hashCache.clear();
    hashCache.set(raw, keyHash);
  }
  return { orgId: ids.orgId, keyId: ids.keyId, keyHash };
}
