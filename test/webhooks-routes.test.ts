/** Webhook endpoint management: secret shown once and sealed, plan limit, validation, roles, audit. */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { getConfig } from "../src/env";
import { decryptSecret } from "../src/lib/crypto";
import { newId } from "../src/lib/ids";
import { call, createOrgWithCast, snapshotTable } from "./factories";
import { auditRows } from "./factories/org-resources";

const hooksPath = (orgId: string) => `/api/orgs/${orgId}/webhooks`;
const validBody = { url: "https://hooks.example.com/tollgate", events: ["budget.threshold", "budget.exceeded"], description: "ops pager" };
type HookDbRow = { id: string; secret_sealed: string; url: string; events: string; enabled: number };

describe("webhook endpoints", () => {
  it("an admin adds an endpoint: the whsec_ secret is returned once, stored sealed to the row, never listed or audited", async () => {
    const { org, admin, viewer } = await createOrgWithCast();
    const res = await call(admin, "POST", hooksPath(org.id), validBody);
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ url: validBody.url, events: validBody.events, description: "ops pager", enabled: true });
    const secret = res.body.secret as string;
    expect(secret).toMatch(/^whsec_[0-9A-Za-z]{32}$/);

    const [row] = (await snapshotTable("webhooks", org.id)) as HookDbRow[];
    expect(row!.secret_sealed).not.toContain(secret);
    expect(await decryptSecret(getConfig(env).ENCRYPTION_KEY, row!.secret_sealed, row!.id)).toBe(secret);
    await expect(decryptSecret(getConfig(env).ENCRYPTION_KEY, row!.secret_sealed, newId("whk"))).rejects.toThrow();

    const list = await call(viewer, "GET", hooksPath(org.id));
    expect(list.status).toBe(200);
    expect(list.body.data).toHaveLength(1);
    expect(JSON.stringify(list.body)).not.toContain(secret);
    expect(list.body.data[0].secret).toBeUndefined();
    const one = await call(viewer, "GET", `${hooksPath(org.id)}/${row!.id}`);
    expect(one.status).toBe(200);
    expect(one.body.secret).toBeUndefined();

    const audit = await auditRows(org.id, "webhook.create");
    expect(audit).toHaveLength(1);
    expect(JSON.stringify(audit[0])).not.toContain(secret);
    expect(audit[0]!.after).toEqual({ url: validBody.url, description: "ops pager", events: validBody.events, enabled: true });
  });

  it("rotate-secret returns a new secret once, the old one no longer opens, and the rotation is audited without it", async () => {
    const { org, owner } = await createOrgWithCast();
    const created = await call(owner, "POST", hooksPath(org.id), validBody);
    const rotated = await call(owner, "POST", `${hooksPath(org.id)}/${created.body.id}/rotate-secret`);
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(created.body.secret);
    const [row] = (await snapshotTable("webhooks", org.id)) as HookDbRow[];
    expect(await decryptSecret(getConfig(env).ENCRYPTION_KEY, row!.secret_sealed, row!.id)).toBe(rotated.body.secret);
    const audit = await auditRows(org.id, "webhook.rotate_secret");
    expect(audit).toHaveLength(1);
    expect(JSON.stringify(audit[0])).not.toContain(rotated.body.secret);
  });

  it("members and viewers cannot create, change, rotate, test or delete; nothing changes", async () => {
    const { org, owner, member, viewer } = await createOrgWithCast();
    const created = await call(owner, "POST", hooksPath(org.id), validBody);
    const before = await snapshotTable("webhooks", org.id);
    for (const who of [member, viewer]) {
      expect((await call(who, "POST", hooksPath(org.id), validBody)).status).toBe(403);
      expect((await call(who, "PATCH", `${hooksPath(org.id)}/${created.body.id}`, { enabled: false })).status).toBe(403);
      expect((await call(who, "POST", `${hooksPath(org.id)}/${created.body.id}/rotate-secret`)).status).toBe(403);
      expect((await call(who, "POST", `${hooksPath(org.id)}/${created.body.id}/test`)).status).toBe(403);
      expect((await call(who, "DELETE", `${hooksPath(org.id)}/${created.body.id}`)).status).toBe(403);
      expect((await call(who, "GET", `${hooksPath(org.id)}/${created.body.id}/deliveries`)).status).toBe(200);
    }
    expect(await snapshotTable("webhooks", org.id)).toEqual(before);
  });

  it("validates url, events and description with param, and writes nothing", async () => {
    const { org, admin } = await createOrgWithCast();
    const cases: Array<[unknown, string]> = [
      [{ events: ["budget.threshold"] }, "url"],
      [{ url: "not a url", events: ["budget.threshold"] }, "url"],
      [{ url: "ftp://example.com/x", events: ["budget.threshold"] }, "url"],
      [{ url: "https://u:p@example.com/x", events: ["budget.threshold"] }, "url"],
      [{ url: "https://example.com/x#frag", events: ["budget.threshold"] }, "url"],
      [{ url: "https://example.com/x" }, "events"],
      [{ url: "https://example.com/x", events: [] }, "events"],
      [{ url: "https://example.com/x", events: ["budget.nope"] }, "events.0"],
      [{ url: "https://example.com/x", events: ["test.ping"] }, "events.0"],
      [{ url: "https://example.com/x", events: ["budget.threshold", "budget.threshold"] }, "events"],
      [{ url: "https://example.com/x", events: ["budget.threshold"], description: "x".repeat(201) }, "description"],
    ];
    const before = await snapshotTable("webhooks", org.id);
    for (const [body, param] of cases) {
      const res = await call(admin, "POST", hooksPath(org.id), body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error).toMatchObject({ code: "invalid_request", param });
    }
    expect(await snapshotTable("webhooks", org.id)).toEqual(before);
  });

  it("PATCH changes url, events, description and enabled (audited before/after); an empty patch is 400", async () => {
    const { org, admin } = await createOrgWithCast();
    const created = await call(admin, "POST", hooksPath(org.id), validBody);
    const path = `${hooksPath(org.id)}/${created.body.id}`;
    expect((await call(admin, "PATCH", path, {})).status).toBe(400);
    const res = await call(admin, "PATCH", path, { url: "https://other.example.com/h", events: ["velocity.tripped"], description: null, enabled: false });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ url: "https://other.example.com/h", events: ["velocity.tripped"], description: null, enabled: false });
    const [audit] = await auditRows(org.id, "webhook.update");
    expect(audit!.before).toMatchObject({ url: validBody.url, enabled: true });
    expect(audit!.after).toMatchObject({ url: "https://other.example.com/h", enabled: false });
    const test = await call(admin, "POST", `${path}/test`);
    expect(test.status).toBe(409);
  });

  it("the free plan allows 2 endpoints; the third is 403 plan_limit, also when created concurrently", async () => {
    const { org, admin } = await createOrgWithCast({ plan: "free" });
    const results = await Promise.all(Array.from({ length: 5 }, () => call(admin, "POST", hooksPath(org.id), validBody)));
    expect(results.filter((r) => r.status === 201)).toHaveLength(2);
    for (const r of results.filter((r) => r.status !== 201)) {
      expect(r.status).toBe(403);
      expect(r.body.error).toMatchObject({ code: "plan_limit", limit: 2 });
    }
    expect(await snapshotTable("webhooks", org.id)).toHaveLength(2);
  });

  it("another org's endpoint is 404 on every route, and delete removes the endpoint with an audit row", async () => {
    const a = await createOrgWithCast();
    const b = await createOrgWithCast();
    const created = await call(a.owner, "POST", hooksPath(a.org.id), validBody);
    const foreign = `${hooksPath(b.org.id)}/${created.body.id}`;
    expect((await call(b.owner, "GET", foreign)).status).toBe(404);
    expect((await call(b.owner, "PATCH", foreign, { enabled: false })).status).toBe(404);
    expect((await call(b.owner, "POST", `${foreign}/rotate-secret`)).status).toBe(404);
    expect((await call(b.owner, "POST", `${foreign}/test`)).status).toBe(404);
    expect((await call(b.owner, "GET", `${foreign}/deliveries`)).status).toBe(404);
    expect((await call(b.owner, "DELETE", foreign)).status).toBe(404);
    const del = await call(a.owner, "DELETE", `${hooksPath(a.org.id)}/${created.body.id}`);
    expect(del.status).toBe(200);
    expect(await snapshotTable("webhooks", a.org.id)).toHaveLength(0);
    expect(await auditRows(a.org.id, "webhook.delete")).toHaveLength(1);
  });
});

describe("webhook envelope in the OpenAPI document", () => {
  it("publishes WebhookEvent with the event types and schema version the dispatcher sends", async () => {
    const doc = (await call(null, "GET", "/api/openapi.json")).body;
    const schema = doc.components.schemas.WebhookEvent;
    expect(schema.required).toEqual(expect.arrayContaining(["id", "type", "api_version", "created_at", "org_id", "data"]));
    expect(schema.properties.type.enum).toEqual([
      "budget.threshold", "budget.exceeded", "velocity.tripped", "credits.low", "key.created", "key.revoked", "member.added", "member.removed", "member.role_changed", "invitation.accepted", "test.ping",
    ]);
    expect(schema.properties.api_version.const ?? schema.properties.api_version.enum?.[0]).toBe("2026-12-01");
    expect(doc.paths["/api/orgs/{orgId}/webhooks/{id}/deliveries"].get["x-tollgate-min-role"]).toBe("viewer");
    expect(doc.paths["/api/orgs/{orgId}/webhooks"].post["x-tollgate-min-role"]).toBe("admin");
  });
});
