/**
 * Design §2: D1 queries per proxied request in steady state = 0. The Worker's fetch handler is
 * invoked with its real bindings except `DB`, which is wrapped to count every use (prepare, batch,
 * exec, dump, withSession) and then made to throw: every data-plane path still answers, so none of
 * them touches D1. (The gate reads D1 only on its cold load and in its alarm's batched flush.)
 */
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../src/index";
import { createBudgetRow } from "./factories/gate";
import { createGatewayOrg, gateCounters } from "./factories/gateway";
import { createPrompt } from "./factories/prompts";
import { orgGate } from "../src/durable-objects/org-gate-client";

function countingDb(real: D1Database, opts: { fail: boolean }) {
  const calls: string[] = [];
  const db = new Proxy(real, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== "function") return v;
      return (...args: unknown[]) => {
        calls.push(String(prop));
        if (opts.fail) throw new Error(`D1 used on the data plane: ${String(prop)}`);
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { db, calls };
}

async function callWorker(db: D1Database, path: string, init: RequestInit) {
  const ctx = createExecutionContext();
  const res = await worker.fetch(new Request(`http://localhost${path}`, init), { ...env, DB: db }, ctx);
  const text = await res.text();
  await waitOnExecutionContext(ctx); // settle / release included
  return { status: res.status, text };
}

describe("D1 on the data plane", () => {
  it("is touched zero times across every endpoint, streams, denials and errors", async () => {
    const { org, owner, key } = await createGatewayOrg();
    const prompt = await createPrompt(org, owner);
    await orgGate(env, org.id).refresh(org.id, ["prompts"]);
    await gateCounters(org.id); // the gate's hot copy is loaded: steady state
    const auth = { authorization: `Bearer ${key.key}`, "content-type": "application/json" };
    const counted = countingDb(env.DB, { fail: true });
    const chat = { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], max_tokens: 20 };
    const cases: Array<[string, RequestInit, number]> = [
      ["/v1/chat/completions", { method: "POST", headers: auth, body: JSON.stringify(chat) }, 200],
      ["/v1/chat/completions", { method: "POST", headers: auth, body: JSON.stringify({ ...chat, stream: true }) }, 200],
      ["/v1/completions", { method: "POST", headers: auth, body: JSON.stringify({ model: "gpt-4o-mini", prompt: "x", stream: true }) }, 200],
      ["/v1/embeddings", { method: "POST", headers: auth, body: JSON.stringify({ model: "text-embedding-3-small", input: "x" }) }, 200],
      ["/v1/responses", { method: "POST", headers: auth, body: JSON.stringify({ model: "gpt-4o-mini", input: "x" }) }, 200],
      ["/v1/responses", { method: "POST", headers: auth, body: JSON.stringify({ model: "gpt-4o-mini", input: "x", stream: true }) }, 200],
      ["/v1/messages", { method: "POST", headers: { ...auth, "anthropic-version": "2023-06-01" }, body: JSON.stringify({ model: "anthropic/claude-sonnet-4-5", max_tokens: 20, messages: [{ role: "user", content: "x" }] }) }, 200],
      ["/v1/messages", { method: "POST", headers: { ...auth, "anthropic-version": "2023-06-01" }, body: JSON.stringify({ model: "anthropic/claude-sonnet-4-5", max_tokens: 20, stream: true, messages: [{ role: "user", content: "x" }] }) }, 200],
      ["/v1/models", { method: "GET", headers: auth }, 200],
      ["/v1/chat/completions", { method: "POST", headers: auth, body: JSON.stringify({ ...chat, messages: undefined, prompt: { id: prompt.id, variables: { name: "Ada" } } }) }, 200],
      ["/v1/responses", { method: "POST", headers: auth, body: JSON.stringify({ model: "gpt-4o-mini", prompt: { id: prompt.name, version: 1, variables: { name: "Ada" } } }) }, 200],
      ["/v1/chat/completions", { method: "POST", headers: auth, body: JSON.stringify({ ...chat, prompt: { id: prompt.id, variables: {} } }) }, 400],
      ["/v1/chat/completions", { method: "POST", headers: auth, body: JSON.stringify({ ...chat, messages: [{ role: "user", content: "#mock:fail-500" }] }) }, 502],
      ["/v1/chat/completions", { method: "POST", headers: auth, body: JSON.stringify({ ...chat, model: "unpriced-model" }) }, 403],
      ["/v1/chat/completions", { method: "POST", headers: auth, body: "{" }, 400],
      ["/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(chat) }, 401],
    ];
    for (const [path, init, status] of cases) {
      const r = await callWorker(counted.db, path, init);
      expect({ path, status: r.status, text: r.status === status ? "" : r.text }).toEqual({ path, status, text: "" });
    }
    await createBudgetRow(org, owner, { scope: "org", limitMicros: 1 });
    expect((await callWorker(counted.db, "/v1/chat/completions", { method: "POST", headers: auth, body: JSON.stringify(chat) })).status).toBe(402);
    expect(counted.calls).toEqual([]);
  });

  it("the counting wrapper does see D1 use (control: a control-plane route)", async () => {
    const counted = countingDb(env.DB, { fail: false });
    const { owner } = await createGatewayOrg();
    const ctx = createExecutionContext();
    await worker.fetch(new Request("http://localhost/api/health", { headers: { cookie: owner.cookie } }), { ...env, DB: counted.db }, ctx);
    await waitOnExecutionContext(ctx);
    expect(counted.calls.length).toBeGreaterThan(0);
  });
});
