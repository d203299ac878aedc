import { env, runInDurableObject, SELF } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { orgGate } from "../src/durable-objects/org-gate-client";
import type { OrgGate } from "../src/durable-objects/org-gate";
import { call, createOrgWithCast } from "./factories";
import { costEventOf, createGatewayOrg, upstreamRecord, v1, waitForSettled } from "./factories/gateway";
import { createKey } from "./factories/keys";

const chat = { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], max_tokens: 20 };
const CALLER_KEY = `sk-caller-${crypto.randomUUID()}`;

/** Every row of every D1 table, as one string. */
async function allD1Text(): Promise<string> {
  const { results } = await env.DB.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%' AND name NOT LIKE '\\_cf%' ESCAPE '\\'").all<{ name: string }>();
  const parts: string[] = [];
  for (const { name } of results) parts.push(JSON.stringify((await env.DB.prepare(`SELECT * FROM "${name}"`).all()).results));
  return parts.join("\n");
}

/** Every row of every table of the org's gate SQLite, as one string. */
function allGateText(orgId: string): Promise<string> {
  return runInDurableObject(orgGate(env, orgId), (_: OrgGate, state) => {
    const sql = state.storage.sql;
    const tables = sql.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%' AND name NOT LIKE '\\_cf%' ESCAPE '\\'").toArray();
    return tables.map((t) => JSON.stringify(sql.exec(`SELECT * FROM "${t.name}"`).toArray())).join("\n");
  });
}

afterEach(() => vi.restoreAllMocks());

describe("BYOK", () => {
  it("the upstream receives the caller's key; D1, the gate, logs and audit never contain it; cost is still tracked", async () => {
    const logged: unknown[] = [];
    for (const m of ["log", "info", "warn", "error", "debug"] as const) vi.spyOn(console, m).mockImplementation((...args: unknown[]) => void logged.push(...args));
    const { org, key } = await createGatewayOrg({ keyOpts: { byok: "allowed" } });
    const res = await v1(key, "/chat/completions", chat, { "X-Tollgate-Provider-Key": CALLER_KEY });
    expect(res.status).toBe(200);
    const requestId = res.headers.get("x-request-id")!;
    expect((await upstreamRecord("openai", requestId))!.headers.authorization).toBe(`Bearer ${CALLER_KEY}`);
    const event = await costEventOf(org.id, requestId);
    expect(event!.cost_micros).toBeGreaterThan(0);

    // Also a failing call (the provider rejects it) must not leak the key into anything recorded.
    const bad = await v1(key, "/chat/completions", { ...chat, messages: [{ role: "user", content: "#mock:fail-401" }] }, { "X-Tollgate-Provider-Key": CALLER_KEY });
    expect(bad.status).toBe(502);
    const badText = await bad.text();
    expect(badText).toContain("rejected the provider key you sent");
    expect(badText).not.toContain(CALLER_KEY);
    await costEventOf(org.id, bad.headers.get("x-request-id")!);

    expect(await allD1Text()).not.toContain(CALLER_KEY);
    const gateText = await allGateText(org.id);
    expect(gateText).toContain(requestId); // the scan reads real rows
    expect(gateText).not.toContain(CALLER_KEY);
    expect(JSON.stringify(logged.map(String))).not.toContain(CALLER_KEY);
  });

  it("a key with byok off refuses a caller key; a key with byok required refuses a call without one; nothing is sent or reserved", async () => {
    const { org, owner, key } = await createGatewayOrg();
    const off = await v1(key, "/chat/completions", chat, { "X-Tollgate-Provider-Key": CALLER_KEY });
    expect(off.status).toBe(400);
    expect(((await off.json()) as any).error.param).toBe("X-Tollgate-Provider-Key");
    expect(await upstreamRecord("openai", off.headers.get("x-request-id")!)).toBeNull();

    const required = await createKey(org, owner, { byok: "required" });
    const missing = await v1(required, "/chat/completions", chat);
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as any).error.message).toContain("requires the caller's own provider key");
    expect(await upstreamRecord("openai", missing.headers.get("x-request-id")!)).toBeNull();
    const withKey = await v1(required, "/chat/completions", chat, { "X-Tollgate-Provider-Key": CALLER_KEY });
    expect(withKey.status).toBe(200);
    await waitForSettled(org.id);
  });

  it("on /v1/messages a native x-api-key is the caller's Anthropic key when the Tollgate key is in Authorization", async () => {
    const { key } = await createGatewayOrg({ keyOpts: { byok: "allowed" } });
    const res = await SELF.fetch("http://localhost/v1/messages", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${key.key}`, "x-api-key": CALLER_KEY, "anthropic-version": "2023-06-01" },
      body: JSON.stringify({ model: "anthropic/claude-sonnet-4-5", max_tokens: 32, messages: [{ role: "user", content: "Hello" }] }),
    });
    expect(res.status).toBe(200);
    expect((await upstreamRecord("anthropic", res.headers.get("x-request-id")!))!.headers["x-api-key"]).toBe(CALLER_KEY);
  });

  it("a caller key cannot be combined with a model alias", async () => {
    const { org, owner, key } = await createGatewayOrg({ keyOpts: { byok: "allowed" } });
    expect((await call(owner, "POST", `/api/orgs/${org.id}/model-aliases`, { name: "smart", targets: [{ provider: "openai", model: "gpt-4o-mini" }] })).status).toBe(201);
    const res = await v1(key, "/chat/completions", { ...chat, model: "smart" }, { "X-Tollgate-Provider-Key": CALLER_KEY });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error.message).toContain("model alias");
    expect(await upstreamRecord("openai", res.headers.get("x-request-id")!)).toBeNull();
  });

  it("admins set byok; members may only narrow it from 'allowed' to 'off' or 'required'", async () => {
    const { org, admin, member } = await createOrgWithCast();
    const adminKey = await call(admin, "POST", `/api/orgs/${org.id}/keys`, { name: "byok", byok: "allowed" });
    expect(adminKey.status).toBe(201);
    expect(adminKey.body.byok).toBe("allowed");
    expect((await call(member, "POST", `/api/orgs/${org.id}/keys`, { name: "mine", byok: "allowed" })).status).toBe(403);
    const mine = await call(member, "POST", `/api/orgs/${org.id}/keys`, { name: "mine" });
    expect(mine.body.byok).toBe("off");
    expect((await call(member, "PATCH", `/api/orgs/${org.id}/keys/${mine.body.id}`, { byok: "required" })).status).toBe(403);
    expect((await call(admin, "PATCH", `/api/orgs/${org.id}/keys/${mine.body.id}`, { byok: "allowed" })).body.byok).toBe("allowed");
    expect((await call(member, "PATCH", `/api/orgs/${org.id}/keys/${mine.body.id}`, { byok: "required" })).body.byok).toBe("required");
    expect((await call(member, "PATCH", `/api/orgs/${org.id}/keys/${mine.body.id}`, { byok: "allowed" })).status).toBe(403);
    expect((await call(admin, "PATCH", `/api/orgs/${org.id}/keys/${mine.body.id}`, { byok: "bogus" })).status).toBe(400);
  });
});
