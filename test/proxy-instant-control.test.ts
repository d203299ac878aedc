/**
 * Control-plane changes take effect on the very next proxied request (design §2): the control plane
 * writes D1, then updates the org's gate before it answers. Here the same two steps are performed the
 * way the routes do them (D1 write, then the gate RPC), and the next request through the Worker is refused.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { orgGate } from "../src/durable-objects/org-gate-client";
import { createMember } from "./factories";
import { createBudgetRow } from "./factories/gate";
import { createGatewayOrg, v1, waitForSettled } from "./factories/gateway";
import { createKey } from "./factories/keys";

const chat = { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], max_tokens: 20 };
const code = async (res: Response) => ((await res.json()) as any).error.code as string;

describe("instant control", () => {
  it("a revoked key is refused on the next request", async () => {
    const { org, key } = await createGatewayOrg();
    expect((await v1(key, "/chat/completions", chat)).status).toBe(200);
    await env.DB.prepare("UPDATE api_keys SET revoked_at = ? WHERE id = ?").bind(Date.now(), key.id).run();
    await orgGate(env, org.id).revokeKeys(org.id, [key.id]);
    const res = await v1(key, "/chat/completions", chat);
    expect(res.status).toBe(401);
    expect(((await res.json()) as any).error).toMatchObject({ code: "invalid_api_key", reason: "revoked" });
    await waitForSettled(org.id);
  });

  it("a lowered budget refuses the next request", async () => {
    const { org, owner, key } = await createGatewayOrg();
    const budgetId = await createBudgetRow(org, owner, { scope: "org", limitMicros: 10_000_000 });
    expect((await v1(key, "/chat/completions", chat)).status).toBe(200);
    await env.DB.prepare("UPDATE budgets SET limit_micros = 1 WHERE id = ?").bind(budgetId).run();
    await orgGate(env, org.id).refresh(org.id, ["budgets"]);
    const res = await v1(key, "/chat/completions", chat);
    expect(res.status).toBe(402);
    expect(await code(res)).toBe("budget_exceeded");
    await waitForSettled(org.id);
  });

  it("removing a member revokes their keys at once; other keys keep working", async () => {
    const { org, key: ownersKey } = await createGatewayOrg();
    const member = await createMember(org, "member");
    const membersKey = await createKey(org, member);
    expect((await v1(membersKey, "/chat/completions", chat)).status).toBe(200);
    await env.DB.batch([
      env.DB.prepare("DELETE FROM memberships WHERE org_id = ? AND user_id = ?").bind(org.id, member.id),
      env.DB.prepare("UPDATE api_keys SET revoked_at = ? WHERE org_id = ? AND created_by = ?").bind(Date.now(), org.id, member.id),
    ]);
    await orgGate(env, org.id).revokeKeys(org.id, [membersKey.id]);
    expect((await v1(membersKey, "/chat/completions", chat)).status).toBe(401);
    expect((await v1(ownersKey, "/chat/completions", chat)).status).toBe(200);
    await waitForSettled(org.id);
  });

  it("narrowing a key's allowed models refuses the next request for another model", async () => {
    const { org, key } = await createGatewayOrg();
    expect((await v1(key, "/chat/completions", { ...chat, model: "gpt-4o" })).status).toBe(200);
    await env.DB.prepare("UPDATE api_keys SET allowed_models = ? WHERE id = ?").bind(JSON.stringify(["gpt-4o-mini"]), key.id).run();
    await orgGate(env, org.id).refresh(org.id, ["keys"]);
    const res = await v1(key, "/chat/completions", { ...chat, model: "gpt-4o" });
    expect(res.status).toBe(403);
    expect(await code(res)).toBe("model_not_allowed");
    expect((await v1(key, "/chat/completions", chat)).status).toBe(200);
    await waitForSettled(org.id);
  });
});
