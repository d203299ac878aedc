/**
 * Form schemas of the dashboard. They mirror the API's own zod rules (src/routes/*) so the form refuses
 * what the API would refuse, with the same wording; the API remains the authority.
 */
import { z } from "zod";

export const emailSchema = z.string().trim().toLowerCase().pipe(z.email("Enter a valid email address").max(254));
/** Same rule as the API: 10–256 characters, no composition rules (NIST SP 800-63B). */
export const newPasswordSchema = z.string().min(10, "Password must be at least 10 characters").max(256, "Password must be at most 256 characters");
export const signupSchema = z.object({ name: z.string().trim().min(1, "Enter your name").max(100), email: emailSchema, password: newPasswordSchema });
export const loginSchema = z.object({ email: emailSchema, password: z.string().min(1, "Enter your password").max(256) });

/** Same pattern as the API's slug rule. */
export const slugSchema = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^(?=.{3,48}$)[a-z0-9]+(?:-[a-z0-9]+)*$/, "slug must be 3–48 characters of a–z, 0–9 and single hyphens, starting and ending with a letter or digit");
export const orgNameSchema = z.string().trim().min(1, "name must not be empty").max(100, "name is at most 100 characters");

/** A dollar amount with at most 6 decimals (the API converts it to exact micro-dollars). */
export const usdSchema = z.string().trim().regex(/^\d+(\.\d{1,6})?$/, "Enter a dollar amount like 25 or 12.50");
export const optionalUsd = z.union([z.literal(""), usdSchema]);
export const optionalPositiveInt = z.union([z.literal(""), z.string().trim().regex(/^[1-9]\d{0,9}$/, "Enter a whole number ≥ 1")]);

export const inviteSchema = z.object({ email: emailSchema, role: z.enum(["admin", "member", "viewer"]) });
export const httpsUrlSchema = z.url("Enter a URL").refine((u) => u.startsWith("https://"), "URL must use https");

/** Branding, as the API checks it (the API also allows plain http logos on loopback in local development). */
export const displayNameSchema = z.string().trim().max(80, "display_name is at most 80 characters");
export const accentColorSchema = z.string().regex(/^#[0-9a-fA-F]{6}$/, "accent_color must be a hex color like #1a2b3c");
export const logoUrlSchema = z.url({ message: "logo_url must be a URL", protocol: /^https?$/ }).max(2048);

/** Turns `slugify("Acme Inc.")` into `acme-inc`. */
export function slugify(name: string): string {
  return name.toLowerCase().normalize("NFKD").replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 48);
}

/** First issue message of a failed parse, or null. */
export function firstIssue(result: { success: boolean; error?: { issues: Array<{ message: string }> } }): string | null {
  return result.success ? null : (result.error?.issues[0]?.message ?? "Invalid input");
}
