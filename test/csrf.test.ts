import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { call, createOrgWithCast, snapshotTable, type TestUser } from "./factories";

/** A cookie-authenticated request with exactly these extra headers (no default Origin). */
async function rawCall(user: TestUser, method: string, path: string, headers: Record<string, string>, body?: unknown) {
  const res = await SELF.fetch(`http://localhost${path}`, {
    method,
    headers: { cookie: user.cookie, "cf-connecting-ip": "203.0.113.7", ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

const createToken = (user: TestUser, orgId: string, headers: Record<string, string>) =>
  rawCall(user, "POST", `/api/orgs/${orgId}/management-tokens`, headers, { name: "ci", role: "viewer" });

describe("CSRF protection of cookie-authenticated mutations", () => {
  it("refuses a foreign Origin with 403 and changes nothing", async () => {
    const { org, owner } = await createOrgWithCast();
    const tokensBefore = await snapshotTable("management_tokens", org.id);
    const auditBefore = await snapshotTable("audit_log", org.id);
    for (const origin of ["https://evil.example", "http://localhost.evil.example", "null", "http://localhost:9999"]) {
      const res = await createToken(owner, org.id, { origin });
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe("permission_denied");
    }
    expect(await snapshotTable("management_tokens", org.id)).toEqual(tokensBefore);
    expect(await snapshotTable("audit_log", org.id)).toEqual(auditBefore);
  });

  it("refuses a cross-site logout (the session stays live)", async () => {
    const { owner } = await createOrgWithCast();
    const res = await rawCall(owner, "POST", "/api/auth/logout", { origin: "https://evil.example" });
    expect(res.status).toBe(403);
    expect((await call(owner, "GET", "/api/me")).status).toBe(200);
  });

  it("refuses a missing Origin unless Fetch Metadata says same-origin", async () => {
    const { org, owner } = await createOrgWithCast();
    const before = await snapshotTable("management_tokens", org.id);
    expect((await createToken(owner, org.id, {})).status).toBe(403);
    expect((await createToken(owner, org.id, { "sec-fetch-site": "cross-site" })).status).toBe(403);
    expect((await createToken(owner, org.id, { "sec-fetch-site": "same-site" })).status).toBe(403);
    expect(await snapshotTable("management_tokens", org.id)).toEqual(before);
    expect((await createToken(owner, org.id, { "sec-fetch-site": "same-origin" })).status).toBe(201);
  });

  it("accepts our own origins: the request's and APP_URL's", async () => {
    const { org, owner } = await createOrgWithCast();
    expect((await createToken(owner, org.id, { origin: "http://localhost" })).status).toBe(201);
    expect((await createToken(owner, org.id, { origin: "http://localhost:8787" })).status).toBe(201);
    expect((await snapshotTable("management_tokens", org.id)).length).toBe(2);
  });

  it("lets safe methods through from anywhere (they change nothing)", async () => {
    const { owner } = await createOrgWithCast();
    const res = await rawCall(owner, "GET", "/api/me", { origin: "https://evil.example" });
    expect(res.status).toBe(200);
  });

  it("does not apply to bearer management tokens, which carry no ambient credential", async () => {
    const { org, owner } = await createOrgWithCast();
    const created = await call(owner, "POST", `/api/orgs/${org.id}/management-tokens`, { name: "automation", role: "admin" });
    expect(created.status).toBe(201);
    const res = await SELF.fetch(`http://localhost/api/orgs/${org.id}/management-tokens`, {
      method: "POST",
      headers: { authorization: `Bearer ${created.body.token}`, "content-type": "application/json", origin: "https://elsewhere.example" },
      body: JSON.stringify({ name: "from ci", role: "viewer" }),
    });
    expect(res.status).toBe(201);
  });
});
