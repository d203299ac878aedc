// src/lib/encoding.ts
var BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
function randomBase62(length) {
  let out = "";
  while (out.length < length) {
    const bytes = crypto.getRandomValues(new Uint8Array(length * 2));
    for (const b of bytes) {
      if (b < 248 && out.length < length) out += BASE62[b % 62];
    }
  }
  return out;
}
function toBase62(n, width) {
  let out = "";
  let v = n;
  do {
    out = BASE62[v % 62] + out;
    v = Math.floor(v / 62);
  } while (v > 0);
  return out.padStart(width, "0");
}
function bytesToHex(bytes) {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let hex = "";
  for (const b of u8) hex += b.toString(16).padStart(2, "0");
  return hex;
}
function base64ToBytes(b64) {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
function bytesToBase64(bytes) {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

// src/lib/ids.ts
var ID_BODY_LENGTH = 16;
function newId(prefix) {
  return `${prefix}_${randomBase62(ID_BODY_LENGTH)}`;
}

// src/lib/virtual-key.ts
var VIRTUAL_KEY_PREFIX = "sk-tg-";
var SECRET_LENGTH = 32;
var CHECKSUM_LENGTH = 6;
var VIRTUAL_KEY_LENGTH = VIRTUAL_KEY_PREFIX.length + 2 * ID_BODY_LENGTH + SECRET_LENGTH + CHECKSUM_LENGTH;
var CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 3988292384 ^ c >>> 1 : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();
function crc32(s) {
  let c = 4294967295;
  for (let i = 0; i < s.length; i++) c = CRC_TABLE[(c ^ s.charCodeAt(i)) & 255] ^ c >>> 8;
  return (c ^ 4294967295) >>> 0;
}
function mintVirtualKey(orgId, keyId) {
  const body = `${VIRTUAL_KEY_PREFIX}${orgId.slice(4)}${keyId.slice(4)}${randomBase62(SECRET_LENGTH)}`;
  return body + toBase62(crc32(body), CHECKSUM_LENGTH);
}

// src/lib/crypto.ts
var encoder = new TextEncoder();
async function sha256Hex(input) {
  return bytesToHex(await crypto.subtle.digest("SHA-256", encoder.encode(input)));
}
async function importAesKey(keyB64) {
  const raw = base64ToBytes(keyB64);
  if (raw.byteLength !== 32) throw new Error("ENCRYPTION_KEY must be 32 bytes, base64");
  return crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
}
async function encryptSecret(keyB64, plaintext, aad) {
  const key = await importAesKey(keyB64);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ct = await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: encoder.encode(aad) }, key, encoder.encode(plaintext));
  return `${bytesToBase64(iv)}.${bytesToBase64(new Uint8Array(ct))}`;
}
export {
  encryptSecret,
  mintVirtualKey,
  newId,
  sha256Hex
};
