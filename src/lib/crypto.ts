import { base64ToBytes, bytesToBase64, bytesToHex } from "./encoding";

const encoder = new TextEncoder();

/** Hex SHA-256 of a UTF-8 string. */
export async function sha256Hex(input: string): Promise<string> {
  return bytesToHex(await crypto.subtle.digest("SHA-256", encoder.encode(input)));
}

/** Constant-time string comparison (equal-length check leaks only length, which is public). */
export function timingSafeEqual(a: string, b: string): boolean {
  const ab = encoder.encode(a);
  const bb = encoder.encode(b);
  if (ab.byteLength !== bb.byteLength) return false;
  return crypto.subtle.timingSafeEqual(ab, bb);
}

/** PBKDF2 iteration count. 100,000 is the maximum the Workers runtime accepts for PBKDF2. */
export const PBKDF2_ITERATIONS = 100_000;

/** Derives a PBKDF2-SHA256 hash (hex) of `password` with `saltHex`. */
export async function hashPassword(password: string, saltHex: string, iterations = PBKDF2_ITERATIONS): Promise<string> {
  const key = await crypto.subtle.importKey("raw", encoder.encode(password), "PBKDF2", false, ["deriveBits"]);
  const salt = new Uint8Array(saltHex.match(/../g)!.map((h) => parseInt(h, 16)));
  const bits = await crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt, iterations }, key, 256);
  return bytesToHex(bits);
}

/** New random 16-byte salt, hex. */
export function newSalt(): string {
  return bytesToHex(crypto.getRandomValues(new Uint8Array(16)));
}

async function importAesKey(keyB64: string): Promise<CryptoKey> {
  const raw = base64ToBytes(keyB64);
  if (raw.byteLength !== 32) throw new Error("ENCRYPTION_KEY must be 32 bytes, base64");
  return crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
}

/** AES-256-GCM encrypts `plaintext`; returns `base64(iv).base64(ciphertext)`. `aad` binds it to its row. */
export async function encryptSecret(keyB64: string, plaintext: string, aad: string): Promise<string> {
  const key = await importAesKey(keyB64);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ct = await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: encoder.encode(aad) }, key, encoder.encode(plaintext));
  return `${bytesToBase64(iv)}.${bytesToBase64(new Uint8Array(ct))}`;
}

/** Reverses {@link encryptSecret}. Throws if the ciphertext or aad was tampered with. */
export async function decryptSecret(keyB64: string, sealed: string, aad: string): Promise<string> {
  const [ivB64, ctB64] = sealed.split(".");
  if (!ivB64 || !ctB64) throw new Error("malformed sealed secret");
  const key = await importAesKey(keyB64);
  const pt = await crypto.subtle.decrypt({ name: "AES-GCM", iv: base64ToBytes(ivB64), additionalData: encoder.encode(aad) }, key, base64ToBytes(ctB64));
  return new TextDecoder().decode(pt);
}
