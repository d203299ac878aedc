import { env } from "cloudflare:test";
import { describe, expect, inject, it } from "vitest";
import { getDb } from "../src/db/client";
import { getConfig, type Config } from "../src/env";
import { SENDGRID_BODY_PLACEHOLDER, sendEmail } from "../src/services/mailer";
import { callWithEnv, uniqueEmail } from "./factories/identity";
import { SENDGRID_FAILING_KEY, type RecordedSendGridRequest } from "./mock-servers/sendgrid";

const mock = () => inject("mockUrls").sendgrid!;
const sendgridConfig = (key = "SG.test-key"): Config => ({ ...getConfig(env), SENDGRID_API_KEY: key, SENDGRID_API_URL: `${mock()}/v3/mail/send` });
const received = async (to: string) => (await (await fetch(`${mock()}/_requests?to=${encodeURIComponent(to)}`)).json()) as RecordedSendGridRequest[];
const outboxRows = (to: string) => env.DB.prepare("SELECT * FROM email_outbox WHERE to_address = ?").bind(to).all<Record<string, any>>().then((r) => r.results);

describe("SendGrid transport", () => {
  it("posts SendGrid's v3 Mail Send shape with the bearer key, and records the send without its body", async () => {
    const to = uniqueEmail("sg");
    const result = await sendEmail(sendgridConfig(), getDb(env.DB), { to, subject: "Hello", text: "Plain body https://x/verify-email?token=abc", html: "<p>Hi</p>" });
    expect(result).toEqual({ ok: true, transport: "sendgrid" });
    const reqs = await received(to);
    expect(reqs).toHaveLength(1);
    expect(reqs[0]).toEqual({
      method: "POST",
      path: "/v3/mail/send",
      authorization: "Bearer SG.test-key",
      contentType: "application/json",
      status: 202,
      body: {
        personalizations: [{ to: [{ email: to }] }],
        from: { email: "no-reply@tollgate.local", name: "Tollgate" },
        subject: "Hello",
        content: [
          { type: "text/plain", value: "Plain body https://x/verify-email?token=abc" },
          { type: "text/html", value: "<p>Hi</p>" },
        ],
      },
    });
    const rows = await outboxRows(to);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ transport: "sendgrid", status: "sent", error: null, subject: "Hello", text: SENDGRID_BODY_PLACEHOLDER, html: null });
  });

  it("returns { ok: false } and records a failed row when SendGrid answers 500", async () => {
    const to = uniqueEmail("sg500");
    const result = await sendEmail(sendgridConfig(SENDGRID_FAILING_KEY), getDb(env.DB), { to, subject: "Boom", text: "body" });
    expect(result.ok).toBe(false);
    expect(result).toMatchObject({ transport: "sendgrid", error: expect.stringContaining("500") });
    expect((await received(to)).map((r) => r.status)).toEqual([500]);
    const rows = await outboxRows(to);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ transport: "sendgrid", status: "failed" });
    expect(rows[0]!.error).toContain("500");
  });

  it("stores the email in the local outbox when no API key is configured", async () => {
    const to = uniqueEmail("local");
    const result = await sendEmail(getConfig(env), getDb(env.DB), { to, subject: "Local", text: "kept" });
    expect(result).toEqual({ ok: true, transport: "outbox" });
    expect(await received(to)).toEqual([]);
    expect((await outboxRows(to))[0]).toMatchObject({ transport: "outbox", status: "stored", text: "kept" });
  });

  it("sends the signup verification email through SendGrid when configured", async () => {
    const email = uniqueEmail("sgsignup");
    const res = await callWithEnv({ SENDGRID_API_KEY: "SG.signup-key", SENDGRID_API_URL: `${mock()}/v3/mail/send` }, "POST", "/api/auth/signup", { email, password: "a long enough password", name: "Mailed" });
    expect(res.status).toBe(201);
    const [req] = await received(email);
    expect(req!.authorization).toBe("Bearer SG.signup-key");
    const body = req!.body as { subject: string; content: Array<{ type: string; value: string }> };
    expect(body.subject).toMatch(/verify/i);
    expect(body.content[0]!.value).toMatch(/http:\/\/localhost:8787\/verify-email\?token=[0-9A-Za-z]{43}/);
    // The live token left this machine only through SendGrid: the outbox row keeps no body.
    expect((await outboxRows(email))[0]).toMatchObject({ status: "sent", text: SENDGRID_BODY_PLACEHOLDER });
  });
});

describe("SendGrid mock", () => {
  it("refuses a malformed request with SendGrid's error shape (so the checks above mean something)", async () => {
    const res = await fetch(`${mock()}/v3/mail/send`, {
      method: "POST",
      headers: { authorization: "Bearer SG.x", "content-type": "application/json" },
      body: JSON.stringify({ personalizations: [{ to: [{ email: "a@b.co" }] }], from: { email: "f@b.co" }, content: [{ type: "text/plain", value: "x" }] }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ errors: [{ message: expect.any(String), field: "subject", help: null }] });
    const noAuth = await fetch(`${mock()}/v3/mail/send`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(noAuth.status).toBe(401);
  });
});
