import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { evaluateRequest } from "../src/guardrails/evaluate";
import type { GuardrailSpec } from "../src/guardrails/spec";
import { orgGate } from "../src/durable-objects/org-gate-client";
import { call, createOrgWithCast } from "./factories";
import { costEventOf, createGatewayOrg, gateCounters, sseData, upstreamRecord, v1, waitForSettled, type GatewayFixture } from "./factories/gateway";
import { createKey } from "./factories/keys";
import { auditRows, createTeam } from "./factories/org-resources";

const path = (orgId: string) => `/api/orgs/${orgId}/guardrails`;
const SECRET = "sk-proj-abcdefghijklmnopqrstuvwxyz0123";
const EMAIL = "alice.secret@example.com";
const chat = (content: string, extra: Record<string, unknown> = {}) => ({ model: "gpt-4o-mini", messages: [{ role: "user", content }], max_tokens: 20, ...extra });

async function addGuardrail(fx: { owner: GatewayFixture["owner"]; org: GatewayFixture["org"] }, body: Record<string, unknown>) {
  const res = await call(fx.owner, "POST", path(fx.org.id), body);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { id: string };
}

describe("guardrails: routes", () => {
  it("admin creates, reads, updates and deletes; every change is audited with before/after", async () => {
    const { org, admin } = await createOrgWithCast();
    const created = await call(admin, "POST", path(org.id), { name: "no secrets", kind: "pii", action: "redact", config: { detectors: ["secret", "email"] } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: "no secrets", kind: "pii", action: "redact", scope: "org", scope_id: null, position: 0, enabled: true, config: { detectors: ["secret", "email"] } });
    const id = created.body.id as string;
    expect((await call(admin, "GET", `${path(org.id)}/${id}`)).body.name).toBe("no secrets");
    const patched = await call(admin, "PATCH", `${path(org.id)}/${id}`, { action: "block", enabled: false });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ action: "block", enabled: false });
    expect((await call(admin, "DELETE", `${path(org.id)}/${id}`)).status).toBe(200);
    expect((await call(admin, "GET", path(org.id))).body.data).toEqual([]);
    const audit = await auditRows(org.id);
    expect(audit.map((r) => r.action)).toEqual(["guardrail.create", "guardrail.update", "guardrail.delete"]);
    expect(audit[1]!.before).toMatchObject({ action: "redact", enabled: true });
    expect(audit[1]!.after).toMatchObject({ action: "block", enabled: false });
    expect(audit[2]!.before).toMatchObject({ name: "no secrets", action: "block" });
  });

  it("member gets 403 on every write, viewer and member can read and test", async () => {
    const { org, admin, member, viewer } = await createOrgWithCast();
    const g = await addGuardrail({ owner: admin, org }, { name: "pii", kind: "pii", action: "block" });
    for (const u of [member, viewer]) {
      expect((await call(u, "POST", path(org.id), { name: "x", kind: "pii", action: "flag" })).status).toBe(403);
      expect((await call(u, "PATCH", `${path(org.id)}/${g.id}`, { enabled: false })).status).toBe(403);
      expect((await call(u, "DELETE", `${path(org.id)}/${g.id}`)).status).toBe(403);
      const list = await call(u, "GET", path(org.id));
      expect(list.status).toBe(200);
      expect(list.body.data.map((x: { id: string }) => x.id)).toEqual([g.id]);
      const tested = await call(u, "POST", `${path(org.id)}/test`, { text: `mail ${EMAIL}` });
      expect(tested.status).toBe(200);
      expect(tested.body.blocked).toMatchObject({ guardrail_id: g.id, reason: "the request contains an email address" });
    }
    expect((await auditRows(org.id)).length).toBe(1);
  });

  it("the test route shows the redacted text of a draft without storing anything", async () => {
    const { org, admin } = await createOrgWithCast();
    const res = await call(admin, "POST", `${path(org.id)}/test`, { text: `key ${SECRET} card 4111 1111 1111 1111`, draft: { kind: "pii", action: "redact", config: {} } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ text: "key [REDACTED_SECRET] card [REDACTED_CARD]", blocked: null, hits: [{ id: "draft", action: "redact" }] });
    expect((await call(admin, "GET", path(org.id))).body.data).toEqual([]);
  });

  it("bad settings get a 400 naming the field and change nothing: invalid RE2, empty-matching pattern, too many patterns, redact on responses, unknown team", async () => {
    const { org, admin } = await createOrgWithCast();
    const bad: Array<[Record<string, unknown>, string]> = [
      [{ name: "x", kind: "pattern", action: "block", config: { patterns: [{ pattern: "(unclosed", regex: true }] } }, "config.patterns.0.pattern"],
      [{ name: "x", kind: "pattern", action: "block", config: { patterns: [{ pattern: "a*", regex: true }] } }, "config.patterns.0.pattern"],
      [{ name: "x", kind: "pattern", action: "block", config: { patterns: [{ pattern: "(?<=a)b", regex: true }] } }, "config.patterns.0.pattern"],
      [{ name: "x", kind: "pattern", action: "block", config: { patterns: Array.from({ length: 51 }, (_, i) => ({ pattern: `p${i}` })) } }, "config.patterns"],
      [{ name: "x", kind: "pattern", action: "block", config: { patterns: [{ pattern: "x".repeat(501) }] } }, "config.patterns.0.pattern"],
      [{ name: "x", kind: "pattern", action: "redact", config: { patterns: [{ pattern: "x" }], apply_to: ["response"] } }, "action"],
      [{ name: "x", kind: "pii", action: "redact", config: { detectors: ["dna"] } }, "config.detectors.0"],
      [{ name: "x", kind: "policy", action: "block", config: {} }, "config"],
      [{ name: "x", kind: "pii", action: "redact", scope: "team", scope_id: "team_doesnotexist00000" }, "scope_id"],
    ];
    for (const [body, param] of bad) {
      const res = await call(admin, "POST", path(org.id), body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error).toMatchObject({ code: "invalid_request", param });
    }
    expect((await call(admin, "GET", path(org.id))).body.data).toEqual([]);
    expect(await auditRows(org.id)).toEqual([]);
  });

  it("a catastrophic-backtracking pattern cannot be catastrophic: RE2 accepts it and scans a 1 MB body with 50 patterns within the bound", async () => {
    const { org, admin } = await createOrgWithCast();
    const evil = ["(a+)+$", "(a|aa)+$", "(a|a?)+#", "(.*a){12}#", "([a-z]+)*Q"];
    const patterns = Array.from({ length: 50 }, (_, i) => ({ pattern: i < evil.length ? evil[i]! : `forbidden-${i}-\\d+`, regex: true }));
    const g = await addGuardrail({ owner: admin, org }, { name: "evil", kind: "pattern", action: "block", config: { patterns } });
    const spec = { ...g, kind: "pattern", action: "block", name: "evil", config: { patterns, case_insensitive: false, apply_to: ["request"] } } as GuardrailSpec;
    const prose = "The quick brown fox jumps over the lazy dog; order 12345, mail me later. ".repeat(14_000).slice(0, 1_000_000);
    let ms = 0;
    for (const content of ["a".repeat(1_000_000) + "!", prose]) {
      const body = { model: "gpt-4o-mini", messages: [{ role: "user", content }] };
      const t = performance.now();
      const v = evaluateRequest([spec], body, null);
      ms = Math.max(ms, performance.now() - t);
      expect(v.blocked).toBeNull();
    }
    // docs/guardrails.md: 1 MB × 50 patterns stays under 1 s.
    expect(ms).toBeLessThan(1_000);
  });

  it("the plan limit refuses the guardrail over the count with plan_limit", async () => {
    const { org, admin } = await createOrgWithCast({ plan: "free" });
    for (let i = 0; i < 5; i++) await addGuardrail({ owner: admin, org }, { name: `g${i}`, kind: "pii", action: "flag" });
    const res = await call(admin, "POST", path(org.id), { name: "one too many", kind: "pii", action: "flag" });
    expect(res.status).toBe(403);
    expect(res.body.error).toMatchObject({ code: "plan_limit", limit: 5 });
  });
});

describe("guardrails: on the wire", () => {
  it("redacts a secret and an email before a non-streamed chat request leaves; the cost event records the hit, not the text", async () => {
    const fx = await createGatewayOrg();
    const g = await addGuardrail(fx, { name: "pii", kind: "pii", action: "redact", config: { detectors: ["secret", "email"] } });
    const res = await v1(fx.key, "/chat/completions", chat(`my key is ${SECRET}, mail ${EMAIL}`));
    expect(res.status).toBe(200);
    const requestId = res.headers.get("x-request-id")!;
    const up = (await upstreamRecord("openai", requestId))!;
    const sent = JSON.stringify(up.body);
    expect(up.body.messages[0].content).toBe("my key is [REDACTED_SECRET], mail [REDACTED_EMAIL]");
    expect(sent).not.toContain(SECRET);
    expect(sent).not.toContain(EMAIL);
    const ev = (await costEventOf(fx.org.id, requestId))!;
    expect(JSON.parse(ev.guardrail_hits)).toEqual([{ id: g.id, action: "redact" }]);
    expect(ev.cost_micros).toBeGreaterThan(0);
    const { results } = await env.DB.prepare("SELECT * FROM cost_events WHERE org_id = ?").bind(fx.org.id).all();
    expect(JSON.stringify(results)).not.toContain("alice.secret");
  });

  it("a 1 MB request through the proxy with 50 active patterns (catastrophic ones included) is checked and forwarded", async () => {
    const fx = await createGatewayOrg();
    const evil = ["(a+)+$", "(a|aa)+$", "(a|a?)+#", "(.*a){12}#", "([a-z]+)*Q"];
    const patterns = Array.from({ length: 50 }, (_, i) => ({ pattern: i < evil.length ? evil[i]! : `forbidden-${i}-\\d+`, regex: true }));
    await addGuardrail(fx, { name: "evil", kind: "pattern", action: "block", config: { patterns } });
    const content = "a".repeat(1_000_000) + "!";
    const res = await v1(fx.key, "/chat/completions", chat(content));
    expect(res.status).toBe(200);
    const up = (await upstreamRecord("openai", res.headers.get("x-request-id")!))!;
    expect(up.body.messages[0].content.length).toBe(content.length);
    const blocked = await v1(fx.key, "/chat/completions", chat(`${"b".repeat(500_000)} forbidden-7-123`));
    expect(blocked.status).toBe(403);
    await waitForSettled(fx.org.id);
  });

  it("redacts a streamed request too", async () => {
    const fx = await createGatewayOrg();
    await addGuardrail(fx, { name: "pii", kind: "pii", action: "redact", config: { detectors: ["email"] } });
    const res = await v1(fx.key, "/chat/completions", chat(`contact ${EMAIL}`, { stream: true }));
    expect(res.status).toBe(200);
    expect((await sseData(res)).at(-1)).toBe("[DONE]");
    const up = (await upstreamRecord("openai", res.headers.get("x-request-id")!))!;
    expect(up.body.stream).toBe(true);
    expect(up.body.messages[0].content).toBe("contact [REDACTED_EMAIL]");
    await waitForSettled(fx.org.id);
  });

  it("redacts on Anthropic-native /v1/messages (string and block content, system prompt)", async () => {
    const fx = await createGatewayOrg();
    await addGuardrail(fx, { name: "pii", kind: "pii", action: "redact", config: { detectors: ["secret", "card"] } });
    const res = await SELF.fetch("http://localhost/v1/messages", {
      method: "POST",
      headers: { "content-type": "application/json", "x-api-key": fx.key.key, "anthropic-version": "2023-06-01" },
      body: JSON.stringify({
        model: "anthropic/claude-sonnet-4-5", max_tokens: 32, system: `never print ${SECRET}`,
        messages: [{ role: "user", content: [{ type: "text", text: "card 4111 1111 1111 1111" }] }, { role: "assistant", content: "ok" }, { role: "user", content: `and ${SECRET}` }],
      }),
    });
    expect(res.status).toBe(200);
    const up = (await upstreamRecord("anthropic", res.headers.get("x-request-id")!))!;
    expect(up.body.system).toBe("never print [REDACTED_SECRET]");
    expect(up.body.messages[0].content[0].text).toBe("card [REDACTED_CARD]");
    expect(up.body.messages[2].content).toBe("and [REDACTED_SECRET]");
    expect(JSON.stringify(up.body)).not.toContain(SECRET);
    await waitForSettled(fx.org.id);
  });

  it("a block on /v1/messages answers in Anthropic's envelope (permission_error, code guardrail_blocked)", async () => {
    const fx = await createGatewayOrg();
    const g = await addGuardrail(fx, { name: "no ssn", kind: "pii", action: "block", config: { detectors: ["ssn"] } });
    const res = await SELF.fetch("http://localhost/v1/messages", {
      method: "POST",
      headers: { "content-type": "application/json", "x-api-key": fx.key.key, "anthropic-version": "2023-06-01" },
      body: JSON.stringify({ model: "anthropic/claude-sonnet-4-5", max_tokens: 32, messages: [{ role: "user", content: "my ssn is 123-45-6789" }] }),
    });
    expect(res.status).toBe(403);
    const text = await res.text();
    expect(JSON.parse(text)).toMatchObject({ type: "error", error: { type: "permission_error", code: "guardrail_blocked", guardrail_id: g.id } });
    expect(text).not.toContain("123-45-6789");
    expect(await upstreamRecord("anthropic", res.headers.get("x-request-id")!)).toBeNull();
    await waitForSettled(fx.org.id);
  });

  it("a block answers 403 guardrail_blocked naming the guardrail, never the text; nothing reaches the provider and nothing is charged", async () => {
    const fx = await createGatewayOrg();
    const g = await addGuardrail(fx, { name: "no cards", kind: "pii", action: "block", config: { detectors: ["card"] } });
    const res = await v1(fx.key, "/chat/completions", chat("pay with 4111 1111 1111 1111"));
    expect(res.status).toBe(403);
    const text = await res.text();
    expect(JSON.parse(text).error).toMatchObject({ code: "guardrail_blocked", type: "guardrail_blocked", guardrail_id: g.id, guardrail: "no cards" });
    expect(JSON.parse(text).error.message).toBe("Blocked by guardrail 'no cards': the request contains a payment card number");
    expect(text).not.toContain("4111");
    const requestId = res.headers.get("x-request-id")!;
    expect(await upstreamRecord("openai", requestId)).toBeNull();
    const ev = (await costEventOf(fx.org.id, requestId))!;
    expect(ev).toMatchObject({ status: 403, cost_micros: 0 });
    expect(JSON.parse(ev.guardrail_hits)).toEqual([{ id: g.id, action: "block" }]);
    expect((await gateCounters(fx.org.id)).reservations).toBe(0);
    // An order number that fails Luhn passes.
    expect((await v1(fx.key, "/chat/completions", chat("order 1234567812345678"))).status).toBe(200);
    await waitForSettled(fx.org.id);
  });

  it("flag lets the request through unchanged and records the flag", async () => {
    const fx = await createGatewayOrg();
    const g = await addGuardrail(fx, { name: "watch", kind: "pattern", action: "flag", config: { patterns: [{ pattern: "project falcon" }], case_insensitive: true } });
    const res = await v1(fx.key, "/chat/completions", chat("About Project Falcon"));
    expect(res.status).toBe(200);
    const requestId = res.headers.get("x-request-id")!;
    expect((await upstreamRecord("openai", requestId))!.body.messages[0].content).toBe("About Project Falcon");
    expect(JSON.parse((await costEventOf(fx.org.id, requestId))!.guardrail_hits)).toEqual([{ id: g.id, action: "flag" }]);
  });

  it("a response pattern replaces a non-streamed answer with 403 and the request is still charged", async () => {
    const fx = await createGatewayOrg();
    const g = await addGuardrail(fx, { name: "no world", kind: "pattern", action: "block", config: { patterns: [{ pattern: "w.rld", regex: true }], apply_to: ["response"] } });
    const res = await v1(fx.key, "/chat/completions", chat("hello"));
    expect(res.status).toBe(403);
    const body = (await res.json()) as any;
    expect(body.error).toMatchObject({ code: "guardrail_blocked", guardrail_id: g.id });
    expect(JSON.stringify(body)).not.toContain("wörld");
    const ev = (await costEventOf(fx.org.id, res.headers.get("x-request-id")!))!;
    expect(ev.status).toBe(403);
    expect(ev.cost_micros).toBeGreaterThan(0);
    expect(JSON.parse(ev.guardrail_hits)).toEqual([{ id: g.id, action: "block" }]);
  });

  it("team and key scopes apply only to their keys", async () => {
    const fx = await createGatewayOrg();
    const team = await createTeam(fx.org);
    const teamKey = await createKey(fx.org, fx.owner, { teamId: team.id });
    const otherKey = await createKey(fx.org, fx.owner);
    await addGuardrail(fx, { name: "team pii", kind: "pii", action: "block", scope: "team", scope_id: team.id, config: { detectors: ["email"] } });
    await addGuardrail(fx, { name: "key pii", kind: "pii", action: "block", scope: "key", scope_id: otherKey.id, config: { detectors: ["ssn"] } });
    expect((await v1(teamKey, "/chat/completions", chat(EMAIL))).status).toBe(403);
    expect((await v1(otherKey, "/chat/completions", chat(EMAIL))).status).toBe(200);
    expect((await v1(otherKey, "/chat/completions", chat("ssn 123-45-6789"))).status).toBe(403);
    expect((await v1(fx.key, "/chat/completions", chat(`${EMAIL} 123-45-6789`))).status).toBe(200);
    await waitForSettled(fx.org.id);
  });

  it("model and parameter policy: denied model, max_tokens cap, required user", async () => {
    const fx = await createGatewayOrg();
    await addGuardrail(fx, { name: "policy", kind: "policy", action: "block", config: { denied_models: ["gpt-4o"], max_tokens: 100, require_user: true } });
    const denied = await v1(fx.key, "/chat/completions", chat("hi", { model: "gpt-4o", user: "u1" }));
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as any).error.message).toBe("Blocked by guardrail 'policy': model 'gpt-4o' is denied");
    const big = await v1(fx.key, "/chat/completions", chat("hi", { max_tokens: 500, user: "u1" }));
    expect(((await big.json()) as any).error.message).toContain("max_tokens may be at most 100");
    const anon = await v1(fx.key, "/chat/completions", chat("hi"));
    expect(((await anon.json()) as any).error.message).toContain("must name the end user");
    expect((await v1(fx.key, "/chat/completions", chat("hi", { user: "u1" }))).status).toBe(200);
    await waitForSettled(fx.org.id);
  });

  it("usage groups by guardrail, and a disabled guardrail stops acting", async () => {
    const fx = await createGatewayOrg();
    const g = await addGuardrail(fx, { name: "pii", kind: "pii", action: "redact", config: { detectors: ["email"] } });
    await v1(fx.key, "/chat/completions", chat(EMAIL));
    await v1(fx.key, "/chat/completions", chat(EMAIL));
    await v1(fx.key, "/chat/completions", chat("nothing here"));
    expect((await call(fx.owner, "PATCH", `${path(fx.org.id)}/${g.id}`, { enabled: false })).status).toBe(200);
    const after = await v1(fx.key, "/chat/completions", chat(EMAIL));
    expect((await upstreamRecord("openai", after.headers.get("x-request-id")!))!.body.messages[0].content).toBe(EMAIL);
    await costEventOf(fx.org.id, after.headers.get("x-request-id")!);
    const usage = await call(fx.owner, "GET", `/api/orgs/${fx.org.id}/usage?group_by=guardrail`);
    expect(usage.status).toBe(200);
    expect(usage.body.groups.map((x: any) => [x.key, x.requests])).toEqual([[g.id, 2]]);
    const events = await call(fx.owner, "GET", `/api/orgs/${fx.org.id}/cost-events`);
    expect(events.body.data.filter((e: any) => e.guardrail_hits.length).length).toBe(2);
  });

  it("a guardrail written to D1 without a gate push still reaches the gate through reconciliation", async () => {
    const fx = await createGatewayOrg();
    const { createGuardrail } = await import("./factories/org-resources");
    await createGuardrail(fx.org, { action: "block", detectors: ["email"] });
    await orgGate(env, fx.org.id).reconcile(fx.org.id);
    expect((await v1(fx.key, "/chat/completions", chat(EMAIL))).status).toBe(403);
    await waitForSettled(fx.org.id);
  });
});


