/** Node-side helpers for seeding the bench database with the Worker's own key and secret formats. */
export { mintVirtualKey } from "../src/lib/virtual-key";
export { sha256Hex, encryptSecret } from "../src/lib/crypto";
export { newId } from "../src/lib/ids";
