import { env, SELF } from "cloudflare:test";
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { orgGate } from "../src/durable-objects/org-gate-client";
import { sha256Hex } from "../src/lib/crypto";
import { checkTemplate, renderTemplate, type PromptTemplate } from "../src/lib/prompt-template";
import { call, createOrgWithCast } from "./factories";
import { costEventOf, createGatewayOrg, flushGate, gateCounters, upstreamRecord, v1, waitForSettled, type GatewayFixture } from "./factories/gateway";
import { auditRows } from "./factories/org-resources";
import { createPrompt } from "./factories/prompts";

const promptsPath = (orgId: string) => `/api/orgs/${orgId}/prompts`;
const SUPPORT_V1 = {
  messages: [
    { role: "system", content: "You are the support agent of {{company}}." },
    { role: "user", content: "Customer {{customer_name}} (VIP: {{vip}}, order {{order}}) asks: {{question}}" },
  ],
  variables: [
    { name: "company", type: "string" },
    { name: "customer_name", type: "string" },
    { name: "vip", type: "boolean" },
    { name: "order", type: "json", required: false },
    { name: "question", type: "string" },
  ],
};
const VARS = { company: "Acme", customer_name: "Ada", vip: true, question: "Where is my parcel?" };

/** A gateway org with a prompt `support` whose v1 carries `production`. */
async function promptOrg(): Promise<GatewayFixture & { promptId: string }> {
  const fx = await createGatewayOrg();
  const created = await call(fx.owner, "POST", promptsPath(fx.org.id), { name: "support", description: "Support replies" });
  expect(created.status).toBe(201);
  const promptId = created.body.id as string;
  const v = await call(fx.owner, "POST", `${promptsPath(fx.org.id)}/${promptId}/versions`, SUPPORT_V1);
  expect(v.status).toBe(201);
  expect((await call(fx.owner, "PUT", `${promptsPath(fx.org.id)}/${promptId}/labels/production`, { version: 1 })).status).toBe(200);
  return { ...fx, promptId };
}

const chatWith = (prompt: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ model: "gpt-4o-mini", max_tokens: 20, prompt, ...extra });

describe("prompt templates: routes and roles", () => {
  it("admins create prompts and immutable numbered versions; viewers read; members get 403 on every write and change nothing", async () => {
    const cast = await createOrgWithCast();
    const base = promptsPath(cast.org.id);
    const created = await call(cast.admin, "POST", base, { name: "summarise" });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    const v1 = await call(cast.admin, "POST", `${base}/${id}/versions`, { messages: [{ role: "user", content: "Summarise: {{text}}" }], variables: [{ name: "text", type: "string" }] });
    expect(v1.status).toBe(201);
    expect(v1.body).toMatchObject({ version: 1, warnings: [] });
    const v2 = await call(cast.owner, "POST", `${base}/${id}/versions`, { messages: [{ role: "user", content: "Summarise briefly: {{text}}" }], variables: [{ name: "text", type: "string" }, { name: "tone", type: "string", required: false }] });
    expect(v2.body).toMatchObject({ version: 2, warnings: ["variable 'tone' is declared but no message uses it"] });

    const viewerGet = await call(cast.viewer, "GET", `${base}/${id}`);
    expect(viewerGet.status).toBe(200);
    expect(viewerGet.body.versions.map((v: any) => [v.version, v.messages[0].content])).toEqual([[1, "Summarise: {{text}}"], [2, "Summarise briefly: {{text}}"]]);
    expect(viewerGet.body.versions[0].variables).toEqual([{ name: "text", type: "string", required: true }]);
    expect((await call(cast.viewer, "GET", base)).body.data).toMatchObject([{ id, name: "summarise", latest_version: 2, labels: {} }]);

    const writes: Array<[string, string, unknown]> = [
      ["POST", base, { name: "nope" }],
      ["POST", `${base}/${id}/versions`, { messages: [{ role: "user", content: "x" }] }],
      ["PUT", `${base}/${id}/labels/production`, { version: 1 }],
      ["DELETE", `${base}/${id}`, undefined],
    ];
    for (const [method, path, body] of writes) {
      for (const who of [cast.member, cast.viewer]) {
        const res = await call(who, method, path, body);
        expect({ method, path, status: res.status, code: res.body?.error?.code }).toEqual({ method, path, status: 403, code: "permission_denied" });
      }
    }
    const after = await call(cast.viewer, "GET", `${base}/${id}`);
    expect(after.body.versions).toHaveLength(2);
    expect(after.body.labels).toEqual({});
    // Versions are immutable: there is no route that edits one.
    expect((await call(cast.owner, "PATCH", `${base}/${id}/versions/1`, { messages: [] })).status).toBe(404);
  });

  it("refuses a placeholder that is not declared (naming it), a duplicate variable and a label on a missing version", async () => {
    const cast = await createOrgWithCast();
    const base = promptsPath(cast.org.id);
    const id = (await call(cast.admin, "POST", base, { name: "p" })).body.id as string;
    const undeclared = await call(cast.admin, "POST", `${base}/${id}/versions`, { messages: [{ role: "user", content: "Hi {{who}} from {{ place }}" }], variables: [{ name: "who", type: "string" }] });
    expect(undeclared.status).toBe(400);
    expect(undeclared.body.error).toMatchObject({ code: "invalid_request", param: "variables" });
    expect(undeclared.body.error.message).toContain("'place'");
    const dup = await call(cast.admin, "POST", `${base}/${id}/versions`, { messages: [{ role: "user", content: "{{a}}" }], variables: [{ name: "a", type: "string" }, { name: "a", type: "number" }] });
    expect(dup.body.error).toMatchObject({ code: "invalid_request", param: "variables.1.name" });
    const label = await call(cast.admin, "PUT", `${base}/${id}/labels/production`, { version: 1 });
    expect(label.body.error).toMatchObject({ code: "invalid_request", param: "version" });
    const badLabel = await call(cast.admin, "PUT", `${base}/${id}/labels/Not%20A%20Label`, { version: 1 });
    expect(badLabel.body.error).toMatchObject({ code: "invalid_request", param: "label" });
    const reserved = await call(cast.admin, "POST", base, { name: "pmpt_abc" });
    expect(reserved.body.error).toMatchObject({ code: "invalid_request", param: "name" });
    expect((await call(cast.admin, "POST", base, { name: "p" })).status).toBe(409);
    expect((await call(cast.viewer, "GET", `${base}/${id}`)).body.versions).toEqual([]);
  });

  it("audits every change with before/after (label moves name the previous version)", async () => {
    const fx = await promptOrg();
    const base = `${promptsPath(fx.org.id)}/${fx.promptId}`;
    await call(fx.owner, "POST", `${base}/versions`, SUPPORT_V1);
    const moved = await call(fx.owner, "PUT", `${base}/labels/production`, { version: 2 });
    expect(moved.body).toEqual({ prompt_id: fx.promptId, label: "production", version: 2, previous_version: 1 });
    expect((await call(fx.owner, "DELETE", base)).status).toBe(200);
    const rows = await auditRows(fx.org.id);
    const mine = rows.filter((r) => String(r.action).startsWith("prompt."));
    expect(mine.map((r) => r.action)).toEqual(["prompt.create", "prompt.version.create", "prompt.label.move", "prompt.version.create", "prompt.label.move", "prompt.delete"]);
    expect(mine[0]!.after).toEqual({ name: "support", description: "Support replies" });
    expect(mine[1]!.after).toMatchObject({ version: 1, messages: SUPPORT_V1.messages });
    expect(mine[2]).toMatchObject({ before: { label: "production", version: null }, after: { label: "production", version: 1 } });
    expect(mine[4]).toMatchObject({ before: { label: "production", version: 1 }, after: { label: "production", version: 2 } });
    expect(mine[5]!.before).toEqual({ name: "support", description: "Support replies", versions: [1, 2], labels: { production: 2 } });
    expect(mine.every((r) => r.target_id === fx.promptId)).toBe(true);
  });

  it("the plan limits the number of prompts", async () => {
    const { owner, org } = await createGatewayOrg({ plan: "free" });
    for (let i = 0; i < 10; i++) await createPrompt(org, owner);
    const res = await call(owner, "POST", promptsPath(org.id), { name: "one-too-many" });
    expect(res.status).toBe(403);
    expect(res.body.error).toMatchObject({ code: "plan_limit", limit: 10 });
  });
});

describe("prompt templates: rendering rules", () => {
  const t: PromptTemplate = {
    id: "prm_x", name: "x", version: 3,
    messages: [{ role: "user", content: "{{a}} and {{ b }} and {{c}} {{not declared but literal}}" }],
    variables: [{ name: "a", type: "string", required: true }, { name: "b", type: "number", required: true }, { name: "c", type: "json", required: false }],
  };

  it("renders typed values in one pass: a value containing {{x}} stays literal; optional variables left out render empty", () => {
    expect(renderTemplate(t, { a: "{{b}}", b: 2.5 })).toEqual({ ok: true, messages: [{ role: "user", content: "{{b}} and 2.5 and  {{not declared but literal}}" }] });
    expect(renderTemplate(t, { a: "x", b: 1, c: { k: [1] } })).toMatchObject({ ok: true, messages: [{ content: 'x and 1 and {"k":[1]} {{not declared but literal}}' }] });
  });

  it("names every missing required and every undeclared variable, and the mistyped one", () => {
    expect(renderTemplate(t, {})).toEqual({ ok: false, error: { param: "prompt.variables.a", message: expect.stringContaining("'a', 'b'") } });
    expect(renderTemplate(t, { a: "x", b: 1, z: 1, y: 2 })).toEqual({ ok: false, error: { param: "prompt.variables.z", message: expect.stringContaining("'z', 'y'") } });
    expect(renderTemplate(t, { a: "x", b: "1" })).toEqual({ ok: false, error: { param: "prompt.variables.b", message: "prompt.variables.b must be of type number" } });
    expect(checkTemplate(t.messages, t.variables)).toEqual({ ok: true, unused: [] });
  });

  it("over /v1: missing, extra and mistyped variables are 400s naming them, and nothing is sent or reserved", async () => {
    const fx = await promptOrg();
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ company: "Acme", vip: true }, "prompt.variables.customer_name", "'customer_name', 'question'"],
      [{ ...VARS, coupon: "X" }, "prompt.variables.coupon", "'coupon'"],
      [{ ...VARS, vip: "yes" }, "prompt.variables.vip", "must be of type boolean"],
      [{ ...VARS, customer_name: 42 }, "prompt.variables.customer_name", "must be of type string"],
    ];
    for (const [variables, param, text] of cases) {
      const res = await v1(fx.key, "/chat/completions", chatWith({ id: fx.promptId, variables }));
      const body = (await res.json()) as any;
      expect({ status: res.status, code: body.error.code, param: body.error.param }).toEqual({ status: 400, code: "invalid_request", param });
      expect(body.error.message).toContain(text);
      expect(await upstreamRecord("openai", res.headers.get("x-request-id")!)).toBeNull();
    }
    const unknown = await v1(fx.key, "/chat/completions", chatWith({ id: "no-such-prompt", variables: VARS }));
    expect(((await unknown.json()) as any).error).toMatchObject({ code: "invalid_request", param: "prompt.id" });
    const noLabel = await v1(fx.key, "/chat/completions", chatWith({ id: fx.promptId, label: "staging", variables: VARS }));
    expect(((await noLabel.json()) as any).error).toMatchObject({ code: "invalid_request", param: "prompt.label" });
    const both = await v1(fx.key, "/chat/completions", chatWith({ id: fx.promptId, label: "production", version: 1, variables: VARS }));
    expect(((await both.json()) as any).error).toMatchObject({ code: "invalid_request", param: "prompt.version" });
    const badKey = await v1(`${fx.key.key.slice(0, -6)}AAAAAA`, "/chat/completions", chatWith({ id: fx.promptId, variables: {} }));
    expect(badKey.status).toBe(401);
    expect((await gateCounters(fx.org.id)).reservations).toBe(0);
  });
});

describe("prompt templates: the data plane", () => {
  it("renders messages (rendered first, then the body's own), strips `prompt`, and records prompt and version on the cost event", async () => {
    const fx = await promptOrg();
    const res = await v1(fx.key, "/chat/completions", chatWith({ id: "support", variables: { ...VARS, order: { id: 7 } } }, { messages: [{ role: "user", content: "Also: thanks!" }] }));
    expect(res.status).toBe(200);
    const requestId = res.headers.get("x-request-id")!;
    const sent = (await upstreamRecord("openai", requestId))!.body;
    expect(sent.prompt).toBeUndefined();
    expect(sent.messages).toEqual([
      { role: "system", content: "You are the support agent of Acme." },
      { role: "user", content: 'Customer Ada (VIP: true, order {"id":7}) asks: Where is my parcel?' },
      { role: "user", content: "Also: thanks!" },
    ]);
    expect(await costEventOf(fx.org.id, requestId)).toMatchObject({ prompt_id: fx.promptId, prompt_version: 1 });
  });

  it("moving `production` from v1 to v2 changes the next request's rendered messages; usage grouped by prompt shows both versions", async () => {
    const fx = await promptOrg();
    const base = `${promptsPath(fx.org.id)}/${fx.promptId}`;
    const first = await v1(fx.key, "/chat/completions", chatWith({ id: fx.promptId, label: "production", variables: VARS }));
    expect(first.status).toBe(200);
    const v2 = { ...SUPPORT_V1, messages: [{ role: "system", content: "You are the friendly support agent of {{company}}." }, SUPPORT_V1.messages[1]!] };
    expect((await call(fx.owner, "POST", `${base}/versions`, v2)).body.version).toBe(2);
    // A new version alone changes nothing: the label still points at v1.
    const still = await v1(fx.key, "/chat/completions", chatWith({ id: fx.promptId, variables: VARS }));
    expect((await upstreamRecord("openai", still.headers.get("x-request-id")!))!.body.messages[0].content).toBe("You are the support agent of Acme.");
    expect((await call(fx.owner, "PUT", `${base}/labels/production`, { version: 2 })).status).toBe(200);
    const next = await v1(fx.key, "/chat/completions", chatWith({ id: fx.promptId, variables: VARS }));
    expect(next.status).toBe(200);
    expect((await upstreamRecord("openai", next.headers.get("x-request-id")!))!.body.messages[0].content).toBe("You are the friendly support agent of Acme.");
    // A numbered version still renders the old text.
    const pinned = await v1(fx.key, "/chat/completions", chatWith({ id: fx.promptId, version: 1, variables: VARS }));
    expect((await upstreamRecord("openai", pinned.headers.get("x-request-id")!))!.body.messages[0].content).toBe("You are the support agent of Acme.");
    const plain = await v1(fx.key, "/chat/completions", { model: "gpt-4o-mini", max_tokens: 20, messages: [{ role: "user", content: "no prompt" }] });
    expect(plain.status).toBe(200);

    await waitForSettled(fx.org.id);
    await flushGate(fx.org.id);
    const usage = await call(fx.owner, "GET", `/api/orgs/${fx.org.id}/usage?group_by=prompt`);
    expect(usage.status).toBe(200);
    const groups = Object.fromEntries(usage.body.groups.map((g: any) => [g.key, g.requests]));
    expect(groups).toEqual({ [`${fx.promptId}@1`]: 3, [`${fx.promptId}@2`]: 1, null: 1 });
    const v1Cost = usage.body.groups.find((g: any) => g.key === `${fx.promptId}@1`).cost_micros;
    expect(v1Cost).toBeGreaterThan(0);
    const events = await call(fx.owner, "GET", `/api/orgs/${fx.org.id}/cost-events`);
    expect(events.body.data.filter((e: any) => e.prompt_version === 2)).toHaveLength(1);
  });

  it("/v1/responses renders into input (after the rendered messages comes the body's own input); OpenAI's own `pmpt_` prompts pass through", async () => {
    const fx = await promptOrg();
    const res = await v1(fx.key, "/responses", { model: "gpt-4o-mini", max_output_tokens: 20, input: "And one more thing", prompt: { id: fx.promptId, variables: VARS } });
    expect(res.status).toBe(200);
    const sent = (await upstreamRecord("openai", res.headers.get("x-request-id")!))!.body;
    expect(sent.prompt).toBeUndefined();
    expect(sent.input).toEqual([
      { role: "system", content: "You are the support agent of Acme." },
      { role: "user", content: "Customer Ada (VIP: true, order ) asks: Where is my parcel?" },
      { role: "user", content: "And one more thing" },
    ]);
    const openaiPrompt = { id: "pmpt_abc123", version: "2", variables: { x: "y" } };
    const passed = await v1(fx.key, "/responses", { model: "gpt-4o-mini", max_output_tokens: 20, input: "hi", prompt: openaiPrompt });
    expect(passed.status).toBe(200);
    expect((await upstreamRecord("openai", passed.headers.get("x-request-id")!))!.body.prompt).toEqual(openaiPrompt);
  });

  it("the real openai SDK sends `prompt` as an extra body field", async () => {
    const fx = await promptOrg();
    const openai = new OpenAI({ apiKey: fx.key.key, baseURL: "http://localhost/v1", fetch: (url, init) => SELF.fetch(url as string, init as RequestInit), maxRetries: 0 });
    const { data, response } = await openai.chat.completions
      .create({ model: "gpt-4o-mini", max_tokens: 20, messages: [], prompt: { id: "support", label: "production", variables: VARS } } as any)
      .withResponse();
    expect(data.choices[0]!.message.content).toBeTruthy();
    const sent = (await upstreamRecord("openai", response.headers.get("x-request-id")!))!.body;
    expect(sent.messages[0]).toEqual({ role: "system", content: "You are the support agent of Acme." });
    expect(await costEventOf(fx.org.id, response.headers.get("x-request-id")!)).toMatchObject({ prompt_id: fx.promptId, prompt_version: 1 });
  });

  it("an isolate reuses a label's resolution for at most 1 s: a move this isolate did not serve applies within that", async () => {
    const fx = await promptOrg();
    const render = async () => {
      const res = await v1(fx.key, "/chat/completions", chatWith({ id: fx.promptId, variables: VARS }));
      expect(res.status).toBe(200);
      return (await upstreamRecord("openai", res.headers.get("x-request-id")!))!.body.messages[0].content as string;
    };
    expect(await render()).toBe("You are the support agent of Acme.");
    // v2 and the label move written as another isolate's route would: D1, then the gate, but not this isolate's cache.
    const now = Date.now();
    await env.DB.batch([
      env.DB.prepare("INSERT INTO prompt_versions (org_id, prompt_id, version, messages, variables, created_by, created_at) VALUES (?, ?, 2, ?, ?, ?, ?)")
        .bind(fx.org.id, fx.promptId, JSON.stringify([{ role: "system", content: "Moved." }, SUPPORT_V1.messages[1]]), JSON.stringify(SUPPORT_V1.variables.map((v) => ({ required: true, ...v }))), fx.owner.id, now),
      env.DB.prepare("UPDATE prompt_labels SET version = 2, updated_at = ? WHERE prompt_id = ? AND label = 'production'").bind(now, fx.promptId),
    ]);
    await orgGate(env, fx.org.id).refresh(fx.org.id, ["prompts"]);
    const t0 = Date.now();
    const soon = await render();
    if (Date.now() - t0 < 900) expect(soon).toBe("You are the support agent of Acme.");
    await new Promise((r) => setTimeout(r, 1_050));
    expect(await render()).toBe("Moved.");
  });

  it("a deleted prompt can no longer be used by label", async () => {
    const fx = await promptOrg();
    expect((await v1(fx.key, "/chat/completions", chatWith({ id: "support", variables: VARS }))).status).toBe(200);
    expect((await call(fx.owner, "DELETE", `${promptsPath(fx.org.id)}/${fx.promptId}`)).status).toBe(200);
    const res = await v1(fx.key, "/chat/completions", chatWith({ id: "support", variables: VARS }));
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error).toMatchObject({ code: "invalid_request", param: "prompt.id" });
    expect((await call(fx.owner, "GET", promptsPath(fx.org.id))).body.data).toEqual([]);
  });

  it("a prompt change the gate never heard about reaches it through reconciliation (fingerprint)", async () => {
    const { owner, org, key } = await createGatewayOrg();
    await gateCounters(org.id);
    const p = await createPrompt(org, owner, { name: "late" });
    const gate = orgGate(env, org.id);
    const ref = { orgId: org.id, keyId: key.id, keyHash: await sha256Hex(key.key), ref: { id: "late", label: "production" } };
    expect(await gate.resolvePrompt(ref)).toEqual({ ok: false, missing: "prompt" });
    const r = await gate.reconcile(org.id);
    expect(r.changed).toContain("prompts");
    expect(await gate.resolvePrompt(ref)).toMatchObject({ ok: true, template: { id: p.id, version: 1 } });
  });
});
