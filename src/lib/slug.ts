import { randomBase62 } from "./encoding";

/** Slugs are lowercase a–z, 0–9 and single hyphens, 3–48 chars, no hyphen at either end. */
export const SLUG_PATTERN = /^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){1,46}[a-z0-9]$/;

/** URL-safe slug derived from a display name ("Acme Inc." → "acme-inc"); "org" when nothing usable is left. */
export function slugify(name: string): string {
  const base = name
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 40)
    .replace(/-+$/g, "");
  return base.length >= 3 ? base : `${base || "org"}-${randomSuffix()}`;
}

/** The slug with a short random suffix, for when the plain one is taken. */
export function withRandomSuffix(slug: string): string {
  return `${slug.slice(0, 40).replace(/-+$/g, "")}-${randomSuffix()}`;
}

function randomSuffix(): string {
  return randomBase62(5).toLowerCase();
}
