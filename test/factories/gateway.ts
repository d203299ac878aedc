/**
 * Data-plane factories: an org wired to the local mock providers (sealed provider keys, the way the
 * providers route stores them), a key, and helpers to call `/v1/*` through the Worker and to look
 * at what the mock provider received and what the gate recorded.
 */
import { env, runDurableObjectAlarm, SELF } from "cloudflare:test";
import { inject } from "vitest";
import { getDb } from "../../src/db/client";
import { providers } from "../../src/db/schema";
import { orgGate } from "../../src/durable-objects/org-gate-client";
import { encryptSecret } from "../../src/lib/crypto";
import { newId } from "../../src/lib/ids";
import { createOrg, createUser, type TestOrg, type TestUser } from "../factories";
import { createKey, type TestKey } from "./keys";

export const OPENAI_UPSTREAM_KEY = "sk-upstream-openai-test-0001";
export const ANTHROPIC_UPSTREAM_KEY = "sk-ant-upstream-test-0001";

/** Inserts a provider whose API key is sealed with the Worker's ENCRYPTION_KEY (aad = provider id). */
export async function createSealedProvider(org: TestOrg, p: { name: string; type: "openai" | "anthropic" | "openai_compatible" | "gemini"; baseUrl: string; apiKey: string; isDefault?: boolean }) {
  const id = newId("prv");
  const apiKeySealed = await encryptSecret(env.ENCRYPTION_KEY, p.apiKey, id);
  await getDb(env.DB).insert(providers).values({ id, orgId: org.id, name: p.name, type: p.type, baseUrl: p.baseUrl, apiKeySealed, apiKeyHint: `…${p.apiKey.slice(-4)}`, isDefault: p.isDefault ?? false });
  await orgGate(env, org.id).refresh(org.id, ["providers"]);
  return { id };
}

export type GatewayFixture = { owner: TestUser; org: TestOrg; key: TestKey };

/** An org on `plan` with an `openai` (default) and an `anthropic` provider pointing at the mocks, and one key. */
export async function createGatewayOrg(opts: { plan?: string; keyOpts?: Parameters<typeof createKey>[2] } = {}): Promise<GatewayFixture> {
  const owner = await createUser();
  const org = await createOrg(owner, { plan: opts.plan ?? "pro" });
  const urls = inject("mockUrls");
  await createSealedProvider(org, { name: "openai", type: "openai", baseUrl: `${urls.openai}/v1`, apiKey: OPENAI_UPSTREAM_KEY, isDefault: true });
  await createSealedProvider(org, { name: "anthropic", type: "anthropic", baseUrl: urls.anthropic!, apiKey: ANTHROPIC_UPSTREAM_KEY });
  const key = await createKey(org, owner, { name: "gateway test", ...opts.keyOpts });
  return { owner, org, key };
}

/** POSTs JSON to the Worker's data plane with the key as Bearer token. */
export function v1(key: TestKey | string | null, path: string, body: unknown, headers: Record<string, string> = {}, init: RequestInit = {}): Promise<Response> {
  const h: Record<string, string> = { "content-type": "application/json", ...headers };
  if (key) h.authorization = `Bearer ${typeof key === "string" ? key : key.key}`;
  return SELF.fetch(`http://localhost/v1${path}`, { method: "POST", headers: h, body: typeof body === "string" ? body : JSON.stringify(body), ...init });
}

/** What the mock provider received for a gateway request id (null when it never got it). */
export async function upstreamRecord(mock: "openai" | "anthropic" | "gemini", requestId: string): Promise<{ path: string; headers: Record<string, string>; body: any } | null> {
  const res = await fetch(`${inject("mockUrls")[mock]}/__mock/requests/${encodeURIComponent(requestId)}`);
  return res.status === 200 ? ((await res.json()) as any) : null;
}

/** The org gate's counters (reservations, spend per budget, outbox depth). */
export function gateCounters(orgId: string) {
  return orgGate(env, orgId).counters();
}

/** Waits until the gate has no open reservation (settle/release run in waitUntil). */
export async function waitForSettled(orgId: string, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const c = await gateCounters(orgId);
    if (c.reservations === 0) return;
    if (Date.now() > until) throw new Error(`still ${c.reservations} open reservation(s)`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Runs the gate's alarm (outbox → D1) until the outbox is empty. */
export async function flushGate(orgId: string): Promise<void> {
  const stub = orgGate(env, orgId);
  for (let i = 0; i < 20; i++) {
    const c = await stub.counters();
    if (c.outbox.cost === 0 && c.outbox.budget === 0) return;
    await runDurableObjectAlarm(stub);
  }
}

/** The org's cost events in D1, oldest first. */
export async function costEvents(orgId: string) {
  const { results } = await env.DB.prepare("SELECT * FROM cost_events WHERE org_id = ? ORDER BY created_at, request_id").bind(orgId).all<Record<string, any>>();
  return results;
}

/** Settles, flushes, and returns the cost event of one request. */
export async function costEventOf(orgId: string, requestId: string) {
  await waitForSettled(orgId);
  await flushGate(orgId);
  return env.DB.prepare("SELECT * FROM cost_events WHERE request_id = ?").bind(requestId).first<Record<string, any>>();
}

/** Reads an SSE response fully and returns the `data:` payloads. */
export async function sseData(res: Response): Promise<string[]> {
  const text = await res.text();
  return text
    .split(/\n\n/)
    .flatMap((block) => block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)))
    .filter(Boolean);
}
