/**
 * Control plane → gate convergence (docs/convergence.md): a push that fails is retried in the request;
 * one that never lands is repaired by the gate reconciling its hot copy from D1 on its own schedule.
 * Gate faults are injected at the binding, as in proxy-fail-closed.test.ts: the Worker runs with its real
 * bindings except `ORG_GATE`, whose stubs throw for the named methods the given number of times.
 */
import { createExecutionContext, env, runDurableObjectAlarm, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../src/index";
import type { OrgGate } from "../src/durable-objects/org-gate";
import { orgGate } from "../src/durable-objects/org-gate-client";
import { ORIGIN, call, createOrgWithCast, type TestUser } from "./factories";
import { admitRequest, createBudgetRow, createProvider } from "./factories/gate";
import { createKey, gateVerdict } from "./factories/keys";
import { auditRows } from "./factories/org-resources";

/** An ORG_GATE binding whose stubs fail `failures[method]` times for that method, then behave normally. */
function flakyGate(failures: Record<string, number>) {
  const calls: string[] = [];
  const ns = new Proxy(env.ORG_GATE, {
    get(target, prop, receiver) {
      if (prop === "get") {
        return (id: DurableObjectId) => {
          const real = target.get(id);
          return new Proxy({}, {
            get(_t, method) {
              return async (...args: unknown[]) => {
                calls.push(String(method));
                const left = failures[String(method)] ?? 0;
                if (left > 0) {
                  failures[String(method)] = left - 1;
                  throw Object.assign(new Error("Network connection lost."), { retryable: true });
                }
                return Reflect.apply(Reflect.get(real, method) as (...a: unknown[]) => unknown, real, args);
              };
            },
          });
        };
      }
      const v = Reflect.get(target, prop, receiver);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  return { ns: ns as typeof env.ORG_GATE, calls };
}

/** Calls a route as `as` with the faulty gate binding (same headers as `call()`). */
async function callWithGate(gate: typeof env.ORG_GATE, as: TestUser, method: string, path: string, body?: unknown) {
  const headers: Record<string, string> = { origin: ORIGIN, "cf-connecting-ip": "203.0.113.7", cookie: as.cookie };
  if (body !== undefined) headers["content-type"] = "application/json";
  const ctx = createExecutionContext();
  const res = await worker.fetch(new Request(`${ORIGIN}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }), { ...env, ORG_GATE: gate }, ctx);
  await waitOnExecutionContext(ctx);
  return { status: res.status, body: (await res.json()) as any };
}

describe("key revocation converges with the gate", () => {
  it("the gate call fails once: the route retries, answers 200 and the key is refused at once", async () => {
    const { org, admin, member } = await createOrgWithCast();
    const key = await createKey(org, member);
    const gate = flakyGate({ syncKey: 1 });
    const res = await callWithGate(gate.ns, admin, "POST", `/api/orgs/${org.id}/keys/${key.id}/revoke`);
    expect(res.status).toBe(200);
    expect(res.body.status).toBe("revoked");
    expect(gate.calls.filter((m) => m === "syncKey")).toHaveLength(2);
    expect(await gateVerdict(key)).toEqual({ ok: false, reason: "revoked" });
  });

  it("the gate never confirms: still 200 (D1 is revoked); revoking again answers 200 and re-pushes to the gate", async () => {
    const { org, admin, member } = await createOrgWithCast();
    const key = await createKey(org, member);
    const res = await callWithGate(flakyGate({ syncKey: 99 }).ns, admin, "POST", `/api/orgs/${org.id}/keys/${key.id}/revoke`);
    expect(res.status).toBe(200);
    expect((await gateVerdict(key)).ok).toBe(true); // the gap the retry and the reconciliation close
    const again = await call(admin, "POST", `/api/orgs/${org.id}/keys/${key.id}/revoke`);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(res.body);
    expect(await gateVerdict(key)).toEqual({ ok: false, reason: "revoked" });
    expect(await auditRows(org.id, "key.revoke")).toHaveLength(1);
  });

  it("a revocation the gate never heard of (Worker died after the D1 write) is applied by the gate's own reconciliation", async () => {
    const { org, member } = await createOrgWithCast();
    const key = await createKey(org, member);
    await env.DB.prepare("UPDATE api_keys SET revoked_at = ?1, updated_at = ?1 WHERE id = ?2").bind(Date.now(), key.id).run();
    expect((await gateVerdict(key)).ok).toBe(true);
    expect(await orgGate(env, org.id).reconcile(org.id)).toMatchObject({ changed: expect.arrayContaining(["keys"]), deleted: false });
    expect(await gateVerdict(key)).toEqual({ ok: false, reason: "revoked" });
  });

  it("an admission on a hot copy older than the reconcile window reconciles first and is refused", async () => {
    const { org, member } = await createOrgWithCast();
    await createProvider(org);
    const key = await createKey(org, member);
    await env.DB.prepare("UPDATE api_keys SET revoked_at = ?1, updated_at = ?1 WHERE id = ?2").bind(Date.now(), key.id).run();
    const req = await admitRequest(key);
    const result = await runInDurableObject(orgGate(env, org.id), async (gate: OrgGate) => {
      (gate as unknown as { reconciledAt: number }).reconciledAt = Date.now() - 120_000;
      return gate.admit(req);
    });
    expect(result).toMatchObject({ ok: false, denial: { kind: "invalid_key", reason: "revoked" } });
  });
});

describe("the gate's reconciliation schedule", () => {
  it("an admission arms the periodic check; the alarm then applies a revocation the gate was never told about", async () => {
    const { org, member } = await createOrgWithCast();
    await createProvider(org);
    const key = await createKey(org, member);
    const gate = orgGate(env, org.id);
    expect((await gate.admit(await admitRequest(key))).ok).toBe(true);
    const armed = (await gate.counters()).alarmAt!;
    expect(armed).toBeLessThanOrEqual(Date.now() + 30_000);
    await env.DB.prepare("UPDATE api_keys SET revoked_at = ?1, updated_at = ?1 WHERE id = ?2").bind(Date.now(), key.id).run();
    await runInDurableObject(gate, (g: OrgGate) => void ((g as unknown as { reconciledAt: number }).reconciledAt = Date.now() - 31_000));
    expect(await runDurableObjectAlarm(gate)).toBe(true);
    expect(await gateVerdict(key)).toEqual({ ok: false, reason: "revoked" });
    // Still in use: the next check is armed again.
    expect((await gate.counters()).alarmAt).not.toBeNull();
  });
});

describe("member removal, org deletion and budget changes converge with the gate", () => {
  it("removal: the gate call fails once, the retry lands and the member's keys are refused", async () => {
    const { org, owner, member } = await createOrgWithCast();
    const key = await createKey(org, member);
    const gate = flakyGate({ revokeKeys: 1 });
    const res = await callWithGate(gate.ns, owner, "DELETE", `/api/orgs/${org.id}/members/${member.id}`);
    expect(res.status).toBe(200);
    expect(gate.calls.filter((m) => m === "revokeKeys")).toHaveLength(2);
    expect(await gateVerdict(key)).toEqual({ ok: false, reason: "revoked" });
  });

  it("removal: the gate never confirms, answers 200, and the reconciliation revokes the keys", async () => {
    const { org, owner, member } = await createOrgWithCast();
    const key = await createKey(org, member);
    const res = await callWithGate(flakyGate({ revokeKeys: 99 }).ns, owner, "DELETE", `/api/orgs/${org.id}/members/${member.id}`);
    expect(res.status).toBe(200);
    expect(res.body.revoked_key_ids).toEqual([key.id]);
    expect((await gateVerdict(key)).ok).toBe(true);
    await orgGate(env, org.id).reconcile(org.id);
    expect(await gateVerdict(key)).toEqual({ ok: false, reason: "revoked" });
  });

  it("org deletion: the gate call fails once and is retried; when it never confirms, the reconciliation finds the org gone", async () => {
    const a = await createOrgWithCast();
    const keyA = await createKey(a.org, a.member);
    const flaky = flakyGate({ deleteOrg: 1 });
    expect((await callWithGate(flaky.ns, a.owner, "DELETE", `/api/orgs/${a.org.id}`, { confirm: a.org.slug })).status).toBe(200);
    expect(flaky.calls.filter((m) => m === "deleteOrg")).toHaveLength(2);
    expect(await gateVerdict(keyA)).toEqual({ ok: false, reason: "org_deleted" });

    const b = await createOrgWithCast();
    const keyB = await createKey(b.org, b.member);
    expect((await callWithGate(flakyGate({ deleteOrg: 99 }).ns, b.owner, "DELETE", `/api/orgs/${b.org.id}`, { confirm: b.org.slug })).status).toBe(200);
    expect((await gateVerdict(keyB)).ok).toBe(true);
    expect(await orgGate(env, b.org.id).reconcile(b.org.id)).toMatchObject({ deleted: true });
    expect(await gateVerdict(keyB)).toEqual({ ok: false, reason: "org_deleted" });
  });

  it("budget change: a limit lowered in D1 without reaching the gate is enforced after the gate reconciles", async () => {
    const { org, owner, member } = await createOrgWithCast();
    await createProvider(org);
    const key = await createKey(org, member);
    const budgetId = await createBudgetRow(org, owner, { limitMicros: 1_000_000_000 });
    expect((await orgGate(env, org.id).admit(await admitRequest(key))).ok).toBe(true);
    await env.DB.prepare("UPDATE budgets SET limit_micros = 1, updated_at = ?1 WHERE id = ?2").bind(Date.now() + 1, budgetId).run();
    await orgGate(env, org.id).reconcile(org.id);
    expect(await orgGate(env, org.id).admit(await admitRequest(key))).toMatchObject({ ok: false, denial: { kind: "budget_exceeded", budgetId } });
  });

  it("reconciling with nothing changed reloads nothing", async () => {
    const { org, member } = await createOrgWithCast();
    await createKey(org, member);
    await orgGate(env, org.id).reconcile(org.id);
    expect(await orgGate(env, org.id).reconcile(org.id)).toEqual({ changed: [], deleted: false });
  });
});
