import { randomBase62 } from "./encoding";

/** Prefixes of the opaque ids (docs/architecture.md). */
export type IdPrefix = "org" | "usr" | "team" | "key" | "inv" | "bud" | "prv" | "ses" | "tgm" | "aud" | "evt" | "whk" | "whd" | "wha" | "eml" | "req" | "tok" | "mal" | "prm" | "grd" | "crg";

/** Length of the random part of every id: 16 base62 chars ≈ 95 bits. */
export const ID_BODY_LENGTH = 16;

/** New opaque id such as `org_3hK9…`. */
export function newId(prefix: IdPrefix): string {
  return `${prefix}_${randomBase62(ID_BODY_LENGTH)}`;
}

/** True when `id` looks like an id with that prefix (cheap shape check before any lookup). */
export function isId(prefix: IdPrefix, id: string): boolean {
  return id.length === prefix.length + 1 + ID_BODY_LENGTH && id.startsWith(`${prefix}_`) && /^[0-9A-Za-z]+$/.test(id.slice(prefix.length + 1));
}
