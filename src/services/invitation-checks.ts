import type { Db } from "../db/client";
import { listEmailsWithAnyOrg, listMemberEmails, listPendingInvitationsForEmails } from "../db/invitations";

/** Why an email cannot be invited to the org right now. Returned, not thrown. */
export type InviteeConflict = { reason: "already_member" | "already_invited" | "has_other_org"; message: string };

/**
 * Checks lower-cased emails against the org with a fixed number of queries (bulk-friendly):
 * already a member, already holding a pending invitation, or (single-org mode) already in some org.
 */
export async function findInviteeConflicts(db: Db, orgId: string, mode: "single" | "multi", emails: string[]): Promise<Map<string, InviteeConflict>> {
  const out = new Map<string, InviteeConflict>();
  const [members, pending, elsewhere] = await Promise.all([
    listMemberEmails(db, orgId, emails),
    listPendingInvitationsForEmails(db, orgId, emails),
    mode === "single" ? listEmailsWithAnyOrg(db, emails) : Promise.resolve(new Set<string>()),
  ]);
  const pendingEmails = new Set(pending.map((p) => p.email.toLowerCase()));
  for (const email of emails) {
    if (members.has(email)) out.set(email, { reason: "already_member", message: `${email} is already a member of this organization` });
    else if (pendingEmails.has(email)) out.set(email, { reason: "already_invited", message: `${email} already has a pending invitation; resend or revoke it` });
    else if (elsewhere.has(email)) {
      out.set(email, { reason: "has_other_org", message: `${email} already belongs to an organization, and this deployment allows one organization per user` });
    }
  }
  return out;
}
