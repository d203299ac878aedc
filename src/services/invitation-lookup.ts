import type { Db } from "../db/client";
import { findInvitationByTokenHash, invitationStatus, type InvitationRow, type InvitationStatus } from "../db/invitations";
import { findOrg, type OrgRow } from "../db/orgs";
import { sha256Hex } from "../lib/crypto";
import { isBase62 } from "../lib/encoding";

/** An invitation found by its token, with its org and inviter. */
export type TokenInvitation = { inv: InvitationRow; org: OrgRow; inviterName: string; status: InvitationStatus };

/** Looks an invitation up by its raw token (hashed first). Unknown or malformed tokens give undefined. */
export async function findInvitationByToken(db: Db, token: string, now = Date.now()): Promise<TokenInvitation | undefined> {
  if (token.length !== 32 || !isBase62(token)) return undefined;
  const row = await findInvitationByTokenHash(db, await sha256Hex(token));
  if (!row) return undefined;
  const org = await findOrg(db, row.inv.orgId);
  if (!org) return undefined;
  return { inv: row.inv, org, inviterName: row.inviterName || row.inviterEmail || `An administrator of ${org.name}`, status: invitationStatus(row.inv, now) };
}

/** `ana@example.com` → `a**@example.com`: enough for the invitee to recognise, little for anyone else. */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf("@");
  if (at <= 0) return "***";
  const local = email.slice(0, at);
  return `${local[0]}${"*".repeat(Math.max(2, Math.min(local.length - 1, 6)))}${email.slice(at)}`;
}

/** Why a non-pending invitation cannot be used, in words. */
export function unusableMessage(status: Exclude<InvitationStatus, "pending">): string {
  switch (status) {
    case "accepted":
      return "This invitation was already used; each invitation link works once";
    case "revoked":
      return "This invitation was revoked by an administrator of the organization";
    case "expired":
      return "This invitation has expired; ask an administrator of the organization to resend it";
  }
}
