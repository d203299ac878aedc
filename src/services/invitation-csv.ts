import { z } from "@hono/zod-openapi";

/** One invitee read from a bulk CSV; `row` is the 1-based line number in the file (the header is row 1). */
export type CsvInvitee = { row: number; email: string; role: "admin" | "member" | "viewer" };
/** A row that cannot be invited, with the reason in words. */
export type CsvProblem = { row: number; reason: string };

/** Most rows one bulk request may carry. */
export const MAX_BULK_ROWS = 500;

const INVITABLE = new Set(["admin", "member", "viewer"]);
const emailSchema = z.email().max(254);

function unquote(field: string): string {
  const f = field.trim();
  return f.length >= 2 && f.startsWith('"') && f.endsWith('"') ? f.slice(1, -1).replace(/""/g, '"').trim() : f;
}

/**
 * Parses `email,role` lines (optional `email,role` header, blank lines and `#` comments skipped) and
 * checks every row on its own: email shape, role, duplicates within the file. Returns every problem
 * so the caller can refuse the whole file and name each bad row.
 */
export function parseInvitationCsv(text: string): { invitees: CsvInvitee[]; problems: CsvProblem[] } {
  const invitees: CsvInvitee[] = [];
  const problems: CsvProblem[] = [];
  const seen = new Map<string, number>();
  const lines = text.replace(/^\uFEFF/, "").split(/\r\n|\n|\r/);
  let sawContent = false; // the first non-blank line may be a header
  lines.forEach((raw, i) => {
    const row = i + 1;
    const line = raw.trim();
    if (!line || line.startsWith("#")) return;
    const fields = line.split(",").map(unquote);
    if (!sawContent) {
      sawContent = true;
      if (fields[0]?.toLowerCase() === "email" && fields[1]?.toLowerCase() === "role") return;
    }
    if (fields.length !== 2) {
      problems.push({ row, reason: `expected 2 columns (email,role), found ${fields.length}` });
      return;
    }
    const email = fields[0]!.toLowerCase();
    const role = fields[1]!.toLowerCase();
    if (!emailSchema.safeParse(email).success) problems.push({ row, reason: `'${fields[0]}' is not a valid email address` });
    else if (!INVITABLE.has(role)) {
      problems.push({ row, reason: role === "owner" ? "the owner role cannot be invited (use admin, member or viewer)" : `role '${fields[1]}' must be admin, member or viewer` });
    } else if (seen.has(email)) problems.push({ row, reason: `${email} is already listed on row ${seen.get(email)}` });
    else {
      seen.set(email, row);
      invitees.push({ row, email, role: role as CsvInvitee["role"] });
    }
  });
  if (invitees.length === 0 && problems.length === 0) problems.push({ row: 1, reason: "the CSV has no invitees; send one 'email,role' line per person" });
  if (invitees.length > MAX_BULK_ROWS) problems.push({ row: invitees[MAX_BULK_ROWS]!.row, reason: `at most ${MAX_BULK_ROWS} invitations per request` });
  return { invitees, problems };
}
