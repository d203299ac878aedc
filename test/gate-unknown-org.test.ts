/**
 * Keys naming an org id that is not in D1 (the checksum is public, so anyone can mint well-formed
 * ones): refused exactly like a wrong secret of a real org, nothing persisted in the Durable Object
 * or D1, and repeated probes of the same id cost no further D1 read.
 */
import { createExecutionContext, env, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../src/index";
import type { OrgGate } from "../src/durable-objects/org-gate";
import { orgGate } from "../src/durable-objects/org-gate-client";
import { newId } from "../src/lib/ids";
import { mintVirtualKey } from "../src/lib/virtual-key";
import { getDb } from "../src/db/client";
import { memberships, orgs } from "../src/db/schema";
import { createUser } from "./factories";
import { createGatewayOrg } from "./factories/gateway";
import { createKey, gateVerdict } from "./factories/keys";

const chat = { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], max_tokens: 5 };

/** The error body without its per-request id. */
async function refusal(res: Response) {
  const body = (await res.json()) as { error: Record<string, unknown> };
  delete body.error.request_id;
  return { status: res.status, body };
}

async function callWorker(db: D1Database, path: string, init: RequestInit) {
  const ctx = createExecutionContext();
  const res = await worker.fetch(new Request(`http://localhost${path}`, init), { ...env, DB: db }, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

/** Every D1 table with its row count (a write anywhere changes this). */
async function d1RowCounts(): Promise<Record<string, number>> {
  const tables = await env.DB.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name != 'd1_migrations'").all<{ name: string }>();
  const out: Record<string, number> = {};
  for (const { name } of tables.results) out[name] = ((await env.DB.prepare(`SELECT COUNT(*) AS n FROM "${name}"`).first<{ n: number }>())!).n;
  return out;
}

function countingDb(real: D1Database) {
  const calls: string[] = [];
  const db = new Proxy(real, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== "function") return v;
      return (...args: unknown[]) => {
        calls.push(String(prop));
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { db, calls };
}

describe("keys of an org id that does not exist", () => {
  it("get the same 401 invalid_api_key body as a wrong secret of a real org, on every endpoint", async () => {
    const { org, key } = await createGatewayOrg();
    const wrongSecret = mintVirtualKey(org.id, key.id);
    const madeUp = mintVirtualKey(newId("org"), newId("key"));
    for (const [path, init] of [
      ["/v1/chat/completions", { method: "POST", body: JSON.stringify(chat) }],
      ["/v1/models", { method: "GET" }],
    ] as const) {
      const send = (k: string) => callWorker(env.DB, path, { ...init, headers: { authorization: `Bearer ${k}`, "content-type": "application/json" } });
      const real = await refusal(await send(wrongSecret));
      expect(real).toEqual({ status: 401, body: { error: { message: "Invalid API key", type: "invalid_api_key", code: "invalid_api_key", param: null, reason: "unknown" } } });
      expect(await refusal(await send(madeUp)), path).toEqual(real);
    }
  });

  it("a deleted org's keys get the same answer as a made-up org id (deletion reveals no existence)", async () => {
    const { org, key } = await createGatewayOrg();
    await orgGate(env, org.id).deleteOrg(org.id);
    const send = (k: string) =>
      callWorker(env.DB, "/v1/chat/completions", { method: "POST", body: JSON.stringify(chat), headers: { authorization: `Bearer ${k}`, "content-type": "application/json" } });
    const deleted = await refusal(await send(key.key));
    expect(deleted).toEqual(await refusal(await send(mintVirtualKey(newId("org"), newId("key")))));
    expect(deleted.body.error.reason).toBe("unknown");
  });

  it("persist nothing: the object stays without tables and D1 is unchanged", async () => {
    const orgId = newId("org");
    const before = await d1RowCounts();
    const res = await callWorker(env.DB, "/v1/chat/completions", {
      method: "POST",
      headers: { authorization: `Bearer ${mintVirtualKey(orgId, newId("key"))}`, "content-type": "application/json" },
      body: JSON.stringify(chat),
    });
    expect(res.status).toBe(401);
    expect(await d1RowCounts()).toEqual(before);
    const stored = await runInDurableObject(orgGate(env, orgId), async (_: OrgGate, state) => ({
      tables: state.storage.sql.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE name NOT LIKE '_cf_%' AND name NOT LIKE 'sqlite_%'").toArray().map((r) => r.name),
      alarm: await state.storage.getAlarm(),
      kv: (await state.storage.list()).size,
    }));
    expect(stored).toEqual({ tables: [], alarm: null, kv: 0 });
  });

  it("are remembered in memory: a second probe of the same id reads no D1", async () => {
    const orgId = newId("org");
    const init = { method: "POST", headers: { authorization: `Bearer ${mintVirtualKey(orgId, newId("key"))}`, "content-type": "application/json" }, body: JSON.stringify(chat) };
    const first = countingDb(env.DB);
    expect((await callWorker(first.db, "/v1/chat/completions", init)).status).toBe(401);
    const second = countingDb(env.DB);
    expect((await callWorker(second.db, "/v1/chat/completions", { ...init, headers: { ...init.headers, authorization: `Bearer ${mintVirtualKey(orgId, newId("key"))}` } })).status).toBe(401);
    expect(second.calls).toEqual([]);
  });

  it("an org that appears in D1 after a probe is loaded by the control plane's next sync, despite the in-memory note", async () => {
    const owner = await createUser();
    const orgId = newId("org");
    const gate = orgGate(env, orgId);
    expect(await gate.verifyKey(orgId, newId("key"), "0".repeat(64))).toEqual({ ok: false, reason: "unknown" });
    await getDb(env.DB).batch([
      getDb(env.DB).insert(orgs).values({ id: orgId, name: "Late org", slug: `late-${orgId.slice(4).toLowerCase()}`, kind: "team", plan: "pro", createdBy: owner.id }),
      getDb(env.DB).insert(memberships).values({ orgId, userId: owner.id, role: "owner" }),
    ]);
    const org = { id: orgId, slug: "late", name: "Late org", kind: "team" as const };
    const key = await createKey(org, owner);
    expect(await gateVerdict(key)).toMatchObject({ ok: true });
  });
});
