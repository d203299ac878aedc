import { env } from "cloudflare:test";
import { getDb } from "../../src/db/client";
import { invitations } from "../../src/db/schema";
import { sha256Hex } from "../../src/lib/crypto";
import { randomBase62 } from "../../src/lib/encoding";
import { newId } from "../../src/lib/ids";
import type { TestOrg, TestUser } from "../factories";

export type TestInvitation = { id: string; token: string; email: string; role: "admin" | "member" | "viewer" };

let seq = 0;

/** A fresh invitee address nobody has used. */
export function newInviteeEmail(): string {
  return `invitee-${Date.now().toString(36)}${(seq++).toString(36)}${Math.random().toString(36).slice(2, 6)}@example.com`;
}

/** An invitation written straight to D1 (token known to the test), in any state. */
export async function createInvitation(
  org: TestOrg,
  inviter: TestUser,
  opts: { email?: string; role?: "admin" | "member" | "viewer"; teamIds?: string[]; expiresAt?: number; revokedAt?: number | null; acceptedAt?: number | null } = {},
): Promise<TestInvitation> {
  const token = randomBase62(32);
  const inv = {
    id: newId("inv"),
    orgId: org.id,
    email: (opts.email ?? newInviteeEmail()).toLowerCase(),
    role: opts.role ?? "member",
    teamIds: opts.teamIds ?? [],
    tokenHash: await sha256Hex(token),
    invitedBy: inviter.id,
    expiresAt: opts.expiresAt ?? Date.now() + 7 * 86_400_000,
    revokedAt: opts.revokedAt ?? null,
    acceptedAt: opts.acceptedAt ?? null,
  };
  await getDb(env.DB).insert(invitations).values(inv);
  return { id: inv.id, token, email: inv.email, role: inv.role };
}

/** Every invitation token mailed to `email` so far (oldest first), read from the local outbox's links. */
export async function mailedInviteTokens(email: string): Promise<string[]> {
  const { results } = await env.DB.prepare("SELECT text FROM email_outbox WHERE to_address = ? ORDER BY created_at, rowid").bind(email).all<{ text: string }>();
  return results.flatMap((r) => [...r.text.matchAll(/\/invite\/([0-9A-Za-z]{32})/g)].map((m) => m[1]!));
}

/** The latest invitation token mailed to `email`. */
export async function lastMailedInviteToken(email: string): Promise<string> {
  const tokens = await mailedInviteTokens(email);
  if (!tokens.length) throw new Error(`no invitation email to ${email} in the outbox`);
  return tokens[tokens.length - 1]!;
}
