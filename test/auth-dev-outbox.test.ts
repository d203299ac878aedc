import { describe, expect, it } from "vitest";
import { call } from "./factories";
import { callWithEnv, signUp, uniqueEmail } from "./factories/identity";

describe("GET /api/dev/outbox", () => {
  it("lists stored emails without sign-in in development, filtered by recipient (any case)", async () => {
    const a = await signUp();
    const b = await signUp();
    const res = await call(null, "GET", `/api/dev/outbox?to=${encodeURIComponent(a.email.toUpperCase())}`);
    expect(res.status).toBe(200);
    expect(res.body.next_cursor).toBeNull();
    expect(res.body.data).toHaveLength(1);
    expect(res.body.data[0]).toMatchObject({ to: a.email, transport: "outbox", status: "stored", error: null });
    expect(res.body.data[0].id).toMatch(/^eml_/);
    expect(res.body.data[0].text).toContain("/verify-email?token=");
    expect(res.body.data[0].html).toContain("<a href=");
    expect(JSON.stringify(res.body)).not.toContain(b.email);
    const all = await call(null, "GET", "/api/dev/outbox?limit=200");
    expect(all.body.data.length).toBeGreaterThanOrEqual(2);
  });

  it("paginates newest first", async () => {
    const s = await signUp();
    for (let i = 0; i < 2; i++) {
      await new Promise((r) => setTimeout(r, 5));
      expect((await call(s.user, "POST", "/api/auth/verify-email/request")).status).toBe(200);
    }
    const p1 = await call(null, "GET", `/api/dev/outbox?to=${encodeURIComponent(s.email)}&limit=2`);
    expect(p1.body.data).toHaveLength(2);
    expect(p1.body.next_cursor).toEqual(expect.any(String));
    const p2 = await call(null, "GET", `/api/dev/outbox?to=${encodeURIComponent(s.email)}&limit=2&cursor=${encodeURIComponent(p1.body.next_cursor)}`);
    expect(p2.body.data).toHaveLength(1);
    expect(p2.body.next_cursor).toBeNull();
    const ids = [...p1.body.data, ...p2.body.data].map((m: { id: string }) => m.id);
    expect(new Set(ids).size).toBe(3);
    const times = [...p1.body.data, ...p2.body.data].map((m: { created_at: string }) => Date.parse(m.created_at));
    expect([...times].sort((x, y) => y - x)).toEqual(times);
  });

  it("answers 400 naming the field for a bad limit or cursor", async () => {
    const limit = await call(null, "GET", "/api/dev/outbox?limit=0");
    expect(limit.status).toBe(400);
    expect(limit.body.error.param).toBe("limit");
    const cursor = await call(null, "GET", "/api/dev/outbox?cursor=nope");
    expect(cursor.status).toBe(400);
    expect(cursor.body.error.param).toBe("cursor");
  });

  it("does not exist outside development", async () => {
    const email = uniqueEmail("prod");
    await signUp({ email });
    for (const ENVIRONMENT of ["production", "staging"]) {
      for (const path of [`/api/dev/outbox?to=${encodeURIComponent(email)}`, "/api/dev/outbox?limit=0"]) {
        const res = await callWithEnv({ ENVIRONMENT }, "GET", path);
        expect(res.status).toBe(404);
        expect(res.body.error.code).toBe("not_found");
        expect(JSON.stringify(res.body)).not.toContain(email);
      }
    }
  });
});
