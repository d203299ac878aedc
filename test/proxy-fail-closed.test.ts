/**
 * Fail closed (design §2): when the org's gate cannot be reached or reports `overloaded`, the request
 * is refused with 503 `budget_unavailable`, never sent upstream, and the admit is not retried.
 * The Worker is invoked with its real bindings except `ORG_GATE`, whose stubs fail like the runtime
 * does (a thrown error carrying `overloaded` / `retryable`).
 */
import { createExecutionContext, env, SELF, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../src/index";
import { createGatewayOrg, gateCounters, upstreamRecord } from "./factories/gateway";

function failingGate(flags: { overloaded?: boolean; retryable?: boolean }) {
  const calls: string[] = [];
  const stub = new Proxy({}, {
    get(_t, prop) {
      return async () => {
        calls.push(String(prop));
        throw Object.assign(new Error("Durable Object is overloaded. Too many requests queued."), flags);
      };
    },
  });
  const ns = new Proxy(env.ORG_GATE, {
    get(target, prop, receiver) {
      if (prop === "get") return () => stub;
      const v = Reflect.get(target, prop, receiver);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  return { ns, calls };
}

describe("the data plane fails closed", () => {
  it.each([
    ["overloaded", { overloaded: true }],
    ["unreachable (retryable)", { retryable: true }],
  ])("gate %s → 503 budget_unavailable, nothing forwarded, admit tried once", async (_name, flags) => {
    const { key } = await createGatewayOrg();
    const gate = failingGate(flags);
    const ctx = createExecutionContext();
    const res = await worker.fetch(
      new Request("http://localhost/v1/chat/completions", {
        method: "POST",
        headers: { authorization: `Bearer ${key.key}`, "content-type": "application/json" },
        body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], max_tokens: 5 }),
      }),
      { ...env, ORG_GATE: gate.ns as typeof env.ORG_GATE },
      ctx,
    );
    await waitOnExecutionContext(ctx);
    expect(res.status).toBe(503);
    const body = (await res.json()) as any;
    expect(body.error.code).toBe("budget_unavailable");
    expect(gate.calls).toEqual(["admit"]);
    expect(await upstreamRecord("openai", res.headers.get("x-request-id")!)).toBeNull();
  });

  it("a provider on a loopback address is refused when ALLOW_PRIVATE_UPSTREAMS is off (502, released)", async () => {
    const { org, key } = await createGatewayOrg();
    const ctx = createExecutionContext();
    const res = await worker.fetch(
      new Request("http://localhost/v1/chat/completions", {
        method: "POST",
        headers: { authorization: `Bearer ${key.key}`, "content-type": "application/json" },
        body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], max_tokens: 5 }),
      }),
      { ...env, ALLOW_PRIVATE_UPSTREAMS: "false" },
      ctx,
    );
    await waitOnExecutionContext(ctx);
    expect(res.status).toBe(502);
    expect(((await res.json()) as any).error.message).toMatch(/refused: it must use https/);
    expect(await upstreamRecord("openai", res.headers.get("x-request-id")!)).toBeNull();
    expect((await gateCounters(org.id)).reservations).toBe(0);
  });

  it("a body without Content-Length is still held to the size limit (413)", async () => {
    const { key } = await createGatewayOrg();
    const chunk = new TextEncoder().encode("x".repeat(1 << 20));
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent === 0) c.enqueue(new TextEncoder().encode('{"model":"gpt-4o-mini","messages":[{"role":"user","content":"'));
        if (sent++ < 6) c.enqueue(chunk);
        else c.close();
      },
    });
    const res = await SELF.fetch("http://localhost/v1/chat/completions", {
      method: "POST",
      headers: { authorization: `Bearer ${key.key}`, "content-type": "application/json" },
      body,
      // @ts-expect-error: workerd's fetch accepts duplex for streamed bodies
      duplex: "half",
    });
    expect(res.status).toBe(413);
    expect(((await res.json()) as any).error.code).toBe("request_too_large");
  });
});
