/**
 * Factories for teams and providers, written straight to D1 the way the routes write them,
 * plus a reader for the audit rows of one org.
 */
import { env } from "cloudflare:test";
import { getConfig } from "../../src/env";
import { getDb } from "../../src/db/client";
import { guardrails, modelAliases, providers, teamMembers, teams } from "../../src/db/schema";
import { encryptSecret } from "../../src/lib/crypto";
import { newId } from "../../src/lib/ids";
import type { TestOrg } from "../factories";

let seq = 0;

/** A team in `org` (unique name unless given), optionally with members (who must be org members). */
export async function createTeam(org: TestOrg, opts: { name?: string; description?: string | null; memberIds?: string[] } = {}) {
  const id = newId("team");
  const now = Date.now();
  const name = opts.name ?? `team-${now.toString(36)}-${seq++}`;
  const db = getDb(env.DB);
  await db.insert(teams).values({ id, orgId: org.id, name, description: opts.description ?? null, createdAt: now, updatedAt: now });
  for (const userId of opts.memberIds ?? []) await db.insert(teamMembers).values({ orgId: org.id, teamId: id, userId });
  return { id, name };
}

/** A provider connection in `org` with a sealed API key. */
export async function createProvider(
  org: TestOrg,
  opts: { name?: string; type?: "openai" | "anthropic" | "openai_compatible"; baseUrl?: string; apiKey?: string; isDefault?: boolean } = {},
) {
  const id = newId("prv");
  const apiKey = opts.apiKey ?? `sk-test-${crypto.randomUUID()}`;
  const row = {
    id, orgId: org.id, name: opts.name ?? `prov-${Date.now().toString(36)}-${seq++}`, type: opts.type ?? "openai",
    baseUrl: opts.baseUrl ?? "https://api.openai.com/v1", apiKeySealed: await encryptSecret(getConfig(env).ENCRYPTION_KEY, apiKey, id),
    apiKeyHint: `…${apiKey.slice(-4)}`, isDefault: opts.isDefault ?? false,
  };
  await getDb(env.DB).insert(providers).values(row);
  return { id, name: row.name, apiKey };
}

/** Audit rows of one org (oldest first), optionally for one action, with JSON columns parsed. */
export async function auditRows(orgId: string, action?: string) {
  const stmt = action
    ? env.DB.prepare("SELECT * FROM audit_log WHERE org_id = ? AND action = ? ORDER BY created_at, rowid").bind(orgId, action)
    : env.DB.prepare("SELECT * FROM audit_log WHERE org_id = ? ORDER BY created_at, rowid").bind(orgId);
  const { results } = await stmt.all<Record<string, unknown>>();
  return results.map((r) => ({
    ...r,
    before: r.before ? JSON.parse(r.before as string) : null,
    after: r.after ? JSON.parse(r.after as string) : null,
  })) as Array<Record<string, any>>;
}

/** A model alias of the org with one target on a fresh provider (rows only; the gate reloads on its next refresh). */
export async function createModelAlias(org: TestOrg, opts: { name?: string } = {}) {
  const provider = await createProvider(org);
  const id = newId("mal");
  const name = opts.name ?? `alias-${Date.now().toString(36)}-${seq++}`;
  await getDb(env.DB).insert(modelAliases).values({ id, orgId: org.id, name, targets: JSON.stringify([{ provider: provider.name, model: "gpt-4o-mini" }]) });
  return { id, name };
}

/** Inserts an org-scope PII guardrail straight into D1 (no gate push: callers that proxy must refresh the gate). */
export async function createGuardrail(org: TestOrg, opts: { name?: string; action?: "redact" | "block" | "flag"; detectors?: string[] } = {}) {
  const id = newId("grd");
  await getDb(env.DB).insert(guardrails).values({
    id, orgId: org.id, name: opts.name ?? `guardrail-${seq++}`, kind: "pii", action: opts.action ?? "redact", scope: "org", scopeId: null,
    config: JSON.stringify({ detectors: opts.detectors ?? ["email"] }), createdBy: "usr_factory",
  });
  return { id };
}
