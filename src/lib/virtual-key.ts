import { ID_BODY_LENGTH } from "./ids";
import { isBase62, randomBase62, toBase62 } from "./encoding";

/**
 * Virtual key format: `sk-tg-` + org id body (16) + key id body (16) + secret (32 base62 ≈ 190 bits) + CRC32 (6 base62).
 * The org and key ids are not secret: they let the Worker route to the org's Durable Object without D1.
 * The checksum lets secret scanners recognise a leaked key offline. Only SHA-256(full key) is stored.
 */
export const VIRTUAL_KEY_PREFIX = "sk-tg-";
const SECRET_LENGTH = 32;
const CHECKSUM_LENGTH = 6;
export const VIRTUAL_KEY_LENGTH = VIRTUAL_KEY_PREFIX.length + 2 * ID_BODY_LENGTH + SECRET_LENGTH + CHECKSUM_LENGTH;

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE) of an ASCII string. */
export function crc32(s: string): number {
  let c = 0xffffffff;
  for (let i = 0; i < s.length; i++) c = CRC_TABLE[(c ^ s.charCodeAt(i)) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Mints a new key for an existing org id and key id. */
export function mintVirtualKey(orgId: string, keyId: string): string {
  const body = `${VIRTUAL_KEY_PREFIX}${orgId.slice(4)}${keyId.slice(4)}${randomBase62(SECRET_LENGTH)}`;
  return body + toBase62(crc32(body), CHECKSUM_LENGTH);
}

/** Parsed, checksum-verified key: which org and key it claims to be. Null when malformed. */
export function parseVirtualKey(key: string): { orgId: string; keyId: string } | null {
  if (key.length !== VIRTUAL_KEY_LENGTH || !key.startsWith(VIRTUAL_KEY_PREFIX)) return null;
  const rest = key.slice(VIRTUAL_KEY_PREFIX.length);
  if (!isBase62(rest)) return null;
  const body = key.slice(0, key.length - CHECKSUM_LENGTH);
  if (toBase62(crc32(body), CHECKSUM_LENGTH) !== key.slice(-CHECKSUM_LENGTH)) return null;
  return { orgId: `org_${rest.slice(0, ID_BODY_LENGTH)}`, keyId: `key_${rest.slice(ID_BODY_LENGTH, 2 * ID_BODY_LENGTH)}` };
}

/** Non-secret display form: prefix + last 4 chars. */
export function virtualKeyHint(key: string): string {
  return `${VIRTUAL_KEY_PREFIX}…${key.slice(-4)}`;
}
