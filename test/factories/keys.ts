import { env } from "cloudflare:test";
import { getDb } from "../../src/db/client";
import { apiKeys } from "../../src/db/schema";
import { orgGate } from "../../src/durable-objects/org-gate-client";
import { sha256Hex } from "../../src/lib/crypto";
import { newId } from "../../src/lib/ids";
import { mintVirtualKey, virtualKeyHint } from "../../src/lib/virtual-key";
import type { TestOrg, TestUser } from "../factories";

export type TestKey = { id: string; key: string; orgId: string };

/** A virtual key written to D1 and synced to the org's gate, as the keys route does. */
export async function createKey(
  org: TestOrg,
  creator: TestUser,
  opts: { name?: string; teamId?: string | null; allowedModels?: string[] | null; expiresAt?: number | null; rpm?: number | null; tpm?: number | null; byok?: "off" | "allowed" | "required" } = {},
): Promise<TestKey> {
  const id = newId("key");
  const key = mintVirtualKey(org.id, id);
  const keyHash = await sha256Hex(key);
  const row = {
    id, orgId: org.id, teamId: opts.teamId ?? null, createdBy: creator.id, name: opts.name ?? "test key", hint: virtualKeyHint(key), keyHash,
    allowedModels: opts.allowedModels ?? null, rpm: opts.rpm ?? null, tpm: opts.tpm ?? null, expiresAt: opts.expiresAt ?? null,
    byok: opts.byok ?? "off",
  };
  await getDb(env.DB).insert(apiKeys).values(row);
  await orgGate(env, org.id).syncKey(org.id, { ...row, revokedAt: null });
  return { id, key, orgId: org.id };
}

/** What the org's gate says about a presented key right now. */
export async function gateVerdict(key: TestKey) {
  const { parseVirtualKey } = await import("../../src/lib/virtual-key");
  const parsed = parseVirtualKey(key.key)!;
  return orgGate(env, parsed.orgId).verifyKey(parsed.orgId, parsed.keyId, await sha256Hex(key.key));
}
