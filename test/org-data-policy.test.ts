/**
 * The org's data policy: with `store_request_metadata` off, cost events reach D1 without the customer
 * id, tags and trace id the request carried; with it on (the default) they are stored.
 */
import { describe, expect, it } from "vitest";
import { call } from "./factories";
import { costEventOf, createGatewayOrg, v1 } from "./factories/gateway";

const chat = { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], max_tokens: 20, user: "end-user-9", metadata: { tags: { feature: "search" } } };
const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

describe("data policy: store_request_metadata", () => {
  it("off: a proxied request with a user, tags and a trace leaves a D1 cost event without them, still priced", async () => {
    const { org, owner, key } = await createGatewayOrg();
    const patch = await call(owner, "PATCH", `/api/orgs/${org.id}/settings`, { data_policy: { store_request_metadata: false } });
    expect(patch.status).toBe(200);
    const res = await v1(key, "/chat/completions", chat, { traceparent, "X-Tollgate-Tags": "env=prod" });
    expect(res.status).toBe(200);
    const ev = (await costEventOf(org.id, res.headers.get("x-request-id")!))!;
    expect(ev).toMatchObject({ customer_id: null, trace_id: null, tags: "{}", status: 200, model: "gpt-4o-mini" });
    expect(ev.cost_micros).toBeGreaterThan(0);
  });

  it("on (the default): the same request's customer id, tags and trace id are stored", async () => {
    const { org, key } = await createGatewayOrg();
    const res = await v1(key, "/chat/completions", chat, { traceparent });
    expect(res.status).toBe(200);
    const ev = (await costEventOf(org.id, res.headers.get("x-request-id")!))!;
    expect(ev.customer_id).toBe("end-user-9");
    expect(ev.trace_id).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    expect(JSON.parse(ev.tags)).toEqual({ feature: "search" });
  });

  it("turned back on: later requests store their metadata again", async () => {
    const { org, owner, key } = await createGatewayOrg();
    await call(owner, "PATCH", `/api/orgs/${org.id}/settings`, { data_policy: { store_request_metadata: false } });
    const off = await v1(key, "/chat/completions", chat);
    expect((await costEventOf(org.id, off.headers.get("x-request-id")!))!.customer_id).toBeNull();
    await call(owner, "PATCH", `/api/orgs/${org.id}/settings`, { data_policy: { store_request_metadata: true } });
    const on = await v1(key, "/chat/completions", chat);
    expect((await costEventOf(org.id, on.headers.get("x-request-id")!))!.customer_id).toBe("end-user-9");
  });
});
