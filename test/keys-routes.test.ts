import { describe, expect, it } from "vitest";
import { sha256Hex } from "../src/lib/crypto";
import { newId } from "../src/lib/ids";
import { parseVirtualKey } from "../src/lib/virtual-key";
import { call, createOrg, createOrgWithCast, createUser, snapshotTable } from "./factories";
import { createKey, gateVerdict, type TestKey } from "./factories/keys";
import { auditRows, createTeam } from "./factories/org-resources";

const keysPath = (orgId: string) => `/api/orgs/${orgId}/keys`;

describe("creating virtual keys", () => {
  it("a member creates a key: the full key comes back once, only its hash is stored, and the gate accepts it at once", async () => {
    const { org, member, viewer } = await createOrgWithCast();
    const res = await call(member, "POST", keysPath(org.id), { name: "ci", allowed_models: ["gpt-4o-mini"], rpm: 60, tpm: 10000 });
    expect(res.status).toBe(201);
    const key: string = res.body.key;
    expect(key).toMatch(/^sk-tg-/);
    expect(parseVirtualKey(key)).toEqual({ orgId: org.id, keyId: res.body.id });
    expect(res.body).toMatchObject({
      name: "ci", status: "active", team_id: null, created_by: member.id, allowed_models: ["gpt-4o-mini"], rpm: 60, tpm: 10000,
      expires_at: null, revoked_at: null, budgets: [], hint: `sk-tg-…${key.slice(-4)}`,
    });

    const [row] = (await snapshotTable("api_keys", org.id)) as Array<Record<string, unknown>>;
    expect(row!.key_hash).toBe(await sha256Hex(key));
    expect(JSON.stringify(row)).not.toContain(key);

    const verdict = await gateVerdict({ id: res.body.id, key, orgId: org.id });
    expect(verdict).toMatchObject({ ok: true, key: { id: res.body.id, createdBy: member.id, allowedModels: ["gpt-4o-mini"], rpm: 60, tpm: 10000 } });

    // GET and list never show the key again.
    const got = await call(viewer, "GET", `${keysPath(org.id)}/${res.body.id}`);
    expect(got.status).toBe(200);
    expect(got.body.key).toBeUndefined();
    expect(JSON.stringify(got.body)).not.toContain(key.slice(10, 40));
    const list = await call(viewer, "GET", keysPath(org.id));
    expect(list.body.data).toHaveLength(1);
    expect(list.body.data[0].key).toBeUndefined();
    expect(list.body.data[0].hint).toBe(res.body.hint);

    const audit = await auditRows(org.id, "key.create");
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actor_id: member.id, target_type: "key", target_id: res.body.id });
    expect(JSON.stringify(audit[0])).not.toContain(key.slice(10, 40));
    expect(JSON.stringify(audit[0])).not.toContain(row!.key_hash as string);
  });

  it("viewers cannot create keys", async () => {
    const { org, viewer } = await createOrgWithCast();
    const res = await call(viewer, "POST", keysPath(org.id), { name: "nope" });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe("permission_denied");
    expect(await snapshotTable("api_keys", org.id)).toEqual([]);
  });

  it("creates a key-scoped hard budget in the same change, with exact micro-dollars", async () => {
    const { org, admin } = await createOrgWithCast();
    const res = await call(admin, "POST", keysPath(org.id), { name: "b", budget: { limit_usd: "0.29", period: "monthly" } });
    expect(res.status).toBe(201);
    expect(res.body.budgets).toEqual([expect.objectContaining({ limit_usd: "0.29", limit_micros: 290_000, period: "monthly", mode: "hard" })]);
    const budgets = (await snapshotTable("budgets", org.id)) as Array<Record<string, unknown>>;
    expect(budgets).toEqual([expect.objectContaining({ scope: "key", scope_id: res.body.id, limit_micros: 290_000, period: "monthly", mode: "hard", created_by: admin.id })]);

    // 0.1 + 0.2 style float traps: numbers and strings parse exactly.
    const n = await call(admin, "POST", keysPath(org.id), { name: "n", budget: { limit_usd: 19.99, period: "daily" } });
    expect(n.body.budgets[0].limit_micros).toBe(19_990_000);
    const fine = await call(admin, "POST", keysPath(org.id), { name: "f", budget: { limit_usd: "1234567.000001", period: "total" } });
    expect(fine.body.budgets[0].limit_micros).toBe(1_234_567_000_001);

    const got = await call(admin, "GET", `${keysPath(org.id)}/${res.body.id}`);
    expect(got.body.budgets[0].limit_micros).toBe(290_000);
  });

  it("refuses malformed bodies with 400 naming the field, and writes nothing", async () => {
    const { org, admin } = await createOrgWithCast();
    const cases: Array<[unknown, string]> = [
      [{}, "name"],
      [{ name: "" }, "name"],
      [{ name: "x".repeat(101) }, "name"],
      [{ name: "k", allowed_models: [] }, "allowed_models"],
      [{ name: "k", allowed_models: "gpt-4o" }, "allowed_models"],
      [{ name: "k", allowed_models: [""] }, "allowed_models.0"],
      [{ name: "k", expires_at: "tomorrow" }, "expires_at"],
      [{ name: "k", expires_at: "2001-01-01T00:00:00Z" }, "expires_at"],
      [{ name: "k", rpm: 0 }, "rpm"],
      [{ name: "k", rpm: 1.5 }, "rpm"],
      [{ name: "k", tpm: -1 }, "tpm"],
      [{ name: "k", budget: { limit_usd: "1.0000001", period: "monthly" } }, "budget.limit_usd"],
      [{ name: "k", budget: { limit_usd: "-5", period: "monthly" } }, "budget.limit_usd"],
      [{ name: "k", budget: { limit_usd: "1e3", period: "monthly" } }, "budget.limit_usd"],
      [{ name: "k", budget: { limit_usd: "abc", period: "monthly" } }, "budget.limit_usd"],
      [{ name: "k", budget: { limit_usd: "5", period: "hourly" } }, "budget.period"],
      [{ name: "k", team_id: 5 }, "team_id"],
    ];
    for (const [body, param] of cases) {
      const res = await call(admin, "POST", keysPath(org.id), body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.code).toBe("invalid_request");
      expect(res.body.error.param, JSON.stringify(body)).toBe(param);
    }
    expect(await snapshotTable("api_keys", org.id)).toEqual([]);
    expect(await snapshotTable("budgets", org.id)).toEqual([]);
    expect(await auditRows(org.id)).toEqual([]);
  });

  it("accepts a team of the same org and refuses another org's team with 404", async () => {
    const { org, member } = await createOrgWithCast();
    const other = await createOrgWithCast();
    const mine = await createTeam(org, { memberIds: [member.id] });
    const theirs = await createTeam(other.org);
    const ok = await call(member, "POST", keysPath(org.id), { name: "t", team_id: mine.id });
    expect(ok.status).toBe(201);
    expect(ok.body.team_id).toBe(mine.id);
    const bad = await call(member, "POST", keysPath(org.id), { name: "t", team_id: theirs.id });
    expect(bad.status).toBe(404);
    expect(bad.body.error.param).toBe("team_id");
    expect(await snapshotTable("api_keys", org.id)).toHaveLength(1);
  });

  it("enforces the plan's key limit on non-revoked keys (free: 10) with 403 plan_limit", async () => {
    const owner = await createUser();
    const org = await createOrg(owner, { plan: "free" });
    const keys: TestKey[] = [];
    for (let i = 0; i < 10; i++) keys.push(await createKey(org, owner));
    const res = await call(owner, "POST", keysPath(org.id), { name: "eleventh" });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe("plan_limit");
    expect(await snapshotTable("api_keys", org.id)).toHaveLength(10);

    expect((await call(owner, "POST", `${keysPath(org.id)}/${keys[0]!.id}/revoke`)).status).toBe(200);
    expect((await call(owner, "POST", keysPath(org.id), { name: "replacement" })).status).toBe(201);
  });

  it("lists with filters and pagination", async () => {
    const { org, owner, member, viewer } = await createOrgWithCast();
    const team = await createTeam(org);
    const a = await createKey(org, member, { teamId: team.id });
    const b = await createKey(org, owner);
    const c = await createKey(org, owner);
    await call(owner, "POST", `${keysPath(org.id)}/${c.id}/revoke`);
    const ids = (r: { body: { data: Array<{ id: string }> } }) => r.body.data.map((k) => k.id).sort();
    expect(ids(await call(viewer, "GET", keysPath(org.id)))).toEqual([a.id, b.id, c.id].sort());
    expect(ids(await call(viewer, "GET", `${keysPath(org.id)}?include_revoked=false`))).toEqual([a.id, b.id].sort());
    expect(ids(await call(viewer, "GET", `${keysPath(org.id)}?team_id=${team.id}`))).toEqual([a.id]);
    expect(ids(await call(viewer, "GET", `${keysPath(org.id)}?created_by=${owner.id}`))).toEqual([b.id, c.id].sort());
    const p1 = await call(viewer, "GET", `${keysPath(org.id)}?limit=2`);
    expect(p1.body.data).toHaveLength(2);
    const p2 = await call(viewer, "GET", `${keysPath(org.id)}?limit=2&cursor=${p1.body.next_cursor}`);
    expect(p2.body.data).toHaveLength(1);
    expect(p2.body.next_cursor).toBeNull();
    expect([...ids(p1), ...ids(p2)].sort()).toEqual([a.id, b.id, c.id].sort());
  });

  it("answers 404 for unknown key ids", async () => {
    const { org, owner } = await createOrgWithCast();
    const ghost = newId("key");
    expect((await call(owner, "GET", `${keysPath(org.id)}/${ghost}`)).status).toBe(404);
    expect((await call(owner, "PATCH", `${keysPath(org.id)}/${ghost}`, { name: "x" })).status).toBe(404);
    expect((await call(owner, "POST", `${keysPath(org.id)}/${ghost}/revoke`)).status).toBe(404);
  });
});

describe("limits under concurrency", () => {
  it("concurrent creations never exceed the plan's key limit", async () => {
    const owner = await createUser();
    const org = await createOrg(owner, { plan: "free" });
    for (let i = 0; i < 7; i++) await createKey(org, owner);
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => call(owner, "POST", keysPath(org.id), { name: `race-${i}` })));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(3);
    expect(statuses.filter((s) => s === 403)).toHaveLength(5);
    for (const r of results) if (r.status === 403) expect(r.body.error.code).toBe("plan_limit");
    expect(await snapshotTable("api_keys", org.id)).toHaveLength(10);
    expect(await auditRows(org.id, "key.create")).toHaveLength(3);
  });

  it("concurrent creations of teams and providers with one name: one wins, the rest get 409", async () => {
    const { org, admin } = await createOrgWithCast();
    const teams = await Promise.all(Array.from({ length: 4 }, () => call(admin, "POST", `/api/orgs/${org.id}/teams`, { name: "Same" })));
    expect(teams.map((r) => r.status).sort()).toEqual([201, 409, 409, 409]);
    const provs = await Promise.all(Array.from({ length: 4 }, () => call(admin, "POST", `/api/orgs/${org.id}/providers`, { name: "same", type: "openai", api_key: "k" })));
    expect(provs.map((r) => r.status).sort()).toEqual([201, 409, 409, 409]);
    expect(await snapshotTable("teams", org.id)).toHaveLength(1);
    const prov = (await snapshotTable("providers", org.id)) as Array<{ is_default: number }>;
    expect(prov).toHaveLength(1);
    expect(prov[0]!.is_default).toBe(1);
    expect(await auditRows(org.id)).toHaveLength(2);
  });
});

describe("members stay inside their teams and only narrow limits", () => {
  it("a member on a team gets their key in that team by default, and cannot put it outside their teams (403, nothing written)", async () => {
    const { org, member } = await createOrgWithCast();
    const mine = await createTeam(org, { memberIds: [member.id] });
    const notMine = await createTeam(org);
    const dflt = await call(member, "POST", keysPath(org.id), { name: "default team" });
    expect(dflt.status).toBe(201);
    expect(dflt.body.team_id).toBe(mine.id);
    const before = await snapshotTable("api_keys", org.id);
    for (const team_id of [notMine.id, null]) {
      const res = await call(member, "POST", keysPath(org.id), { name: "escape", team_id });
      expect(res.status, String(team_id)).toBe(403);
      expect(res.body.error).toMatchObject({ code: "permission_denied", param: "team_id" });
    }
    expect(await snapshotTable("api_keys", org.id)).toEqual(before);
    // With several teams the member must choose one.
    const second = await createTeam(org, { memberIds: [member.id] });
    const ambiguous = await call(member, "POST", keysPath(org.id), { name: "which" });
    expect(ambiguous.status).toBe(400);
    expect(ambiguous.body.error.param).toBe("team_id");
    expect((await call(member, "POST", keysPath(org.id), { name: "second", team_id: second.id })).status).toBe(201);
  });

  it("a member without a team keeps creating team-less keys; admins put keys anywhere", async () => {
    const { org, member, admin } = await createOrgWithCast();
    const team = await createTeam(org);
    const free = await call(member, "POST", keysPath(org.id), { name: "solo" });
    expect(free.status).toBe(201);
    expect(free.body.team_id).toBeNull();
    expect((await call(member, "POST", keysPath(org.id), { name: "x", team_id: team.id })).status).toBe(403);
    expect((await call(admin, "POST", keysPath(org.id), { name: "a", team_id: team.id })).body.team_id).toBe(team.id);
    expect((await call(admin, "POST", keysPath(org.id), { name: "b", team_id: null })).body.team_id).toBeNull();
  });

  it("a member cannot PATCH their key out of their team, but may move it to another team of theirs", async () => {
    const { org, member, admin } = await createOrgWithCast();
    const a = await createTeam(org, { memberIds: [member.id] });
    const b = await createTeam(org, { memberIds: [member.id] });
    const outside = await createTeam(org);
    const key = await createKey(org, member, { teamId: a.id });
    const path = `${keysPath(org.id)}/${key.id}`;
    for (const team_id of [null, outside.id]) {
      const res = await call(member, "PATCH", path, { team_id });
      expect(res.status, String(team_id)).toBe(403);
      expect(res.body.error.param).toBe("team_id");
    }
    expect((await snapshotTable("api_keys", org.id) as Array<Record<string, unknown>>)[0]!.team_id).toBe(a.id);
    expect((await call(member, "PATCH", path, { team_id: b.id })).body.team_id).toBe(b.id);
    expect((await call(member, "PATCH", path, { team_id: b.id, name: "same team resent" })).status).toBe(200);
    expect((await call(admin, "PATCH", path, { team_id: null })).body.team_id).toBeNull();
  });

  it("a member may only narrow rpm, tpm, expires_at and allowed_models on their key (whoever set them); admins may widen", async () => {
    const { org, member, admin } = await createOrgWithCast();
    const expires = Date.now() + 86_400_000;
    const key = await createKey(org, member, { rpm: 60, tpm: 10_000, allowedModels: ["gpt-4o-mini", "anthropic/claude-*"], expiresAt: expires });
    const path = `${keysPath(org.id)}/${key.id}`;
    const before = await snapshotTable("api_keys", org.id);
    const widen: Array<[Record<string, unknown>, string]> = [
      [{ rpm: 61 }, "rpm"],
      [{ rpm: null }, "rpm"],
      [{ tpm: 10_001 }, "tpm"],
      [{ tpm: null }, "tpm"],
      [{ allowed_models: null }, "allowed_models"],
      [{ allowed_models: ["gpt-4o-mini", "gpt-4o"] }, "allowed_models"],
      [{ allowed_models: ["gpt-*"] }, "allowed_models"],
      [{ allowed_models: ["anthropic/*"] }, "allowed_models"],
      [{ expires_at: null }, "expires_at"],
      [{ expires_at: new Date(expires + 60_000).toISOString() }, "expires_at"],
      [{ name: "ok", rpm: 1000 }, "rpm"],
    ];
    for (const [body, param] of widen) {
      const res = await call(member, "PATCH", path, body);
      expect(res.status, JSON.stringify(body)).toBe(403);
      expect(res.body.error).toMatchObject({ code: "permission_denied", param });
    }
    expect(await snapshotTable("api_keys", org.id)).toEqual(before);
    expect(await gateVerdict(key)).toMatchObject({ ok: true, key: { rpm: 60, tpm: 10_000 } });

    const narrowed = await call(member, "PATCH", path, {
      rpm: 30, tpm: 5_000, allowed_models: ["anthropic/claude-3-5-haiku*"], expires_at: new Date(expires - 60_000).toISOString(),
    });
    expect(narrowed.status).toBe(200);
    expect(narrowed.body).toMatchObject({ rpm: 30, tpm: 5_000, allowed_models: ["anthropic/claude-3-5-haiku*"] });
    expect(await gateVerdict(key)).toMatchObject({ ok: true, key: { rpm: 30, tpm: 5_000, allowedModels: ["anthropic/claude-3-5-haiku*"] } });
    const widened = await call(admin, "PATCH", path, { rpm: null, allowed_models: null, expires_at: null });
    expect(widened.status).toBe(200);
    expect(widened.body).toMatchObject({ rpm: null, allowed_models: null, expires_at: null });
  });

  it("a member may add limits to a key that has none", async () => {
    const { org, member } = await createOrgWithCast();
    const key = await createKey(org, member);
    const res = await call(member, "PATCH", `${keysPath(org.id)}/${key.id}`, { rpm: 5, tpm: 100, allowed_models: ["gpt-4o-mini"], expires_at: new Date(Date.now() + 3_600_000).toISOString() });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ rpm: 5, tpm: 100, allowed_models: ["gpt-4o-mini"] });
  });
});
