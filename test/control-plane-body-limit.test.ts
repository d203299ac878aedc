/**
 * Every `/api/*` body is held to the control-plane limit (MAX_BODY_BYTES capped at 1 MiB) while it
 * streams in, whatever the route reads it as (JSON, text/csv), with or without Content-Length:
 * 413 `request_too_large` in the error shape, and nothing changes.
 */
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { CONTROL_PLANE_MAX_BODY_BYTES } from "../src/middleware/body-limit";
import { call, createOrgWithCast, ORIGIN, snapshotTable } from "./factories";

/** A body stream of `total` bytes (`head` first, then filler), sent without Content-Length. */
function streamOf(head: string, total: number): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  const chunk = enc.encode("x".repeat(64 * 1024));
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (sent === 0) {
        const h = enc.encode(head);
        c.enqueue(h);
        sent += h.byteLength;
      } else if (sent < total) {
        c.enqueue(chunk);
        sent += chunk.byteLength;
      } else c.close();
    },
  });
}

async function send(cookie: string, method: string, path: string, contentType: string, body: BodyInit, extra: Record<string, string> = {}) {
  const res = await SELF.fetch(`${ORIGIN}${path}`, {
    method,
    headers: { origin: ORIGIN, cookie, "content-type": contentType, ...extra },
    body,
    // @ts-expect-error: workerd's fetch accepts duplex for streamed bodies
    duplex: "half",
  });
  return { status: res.status, body: (await res.json()) as { error: { code: string; type: string; message: string; param: null } } };
}

describe("control-plane body limit", () => {
  it("a bulk-invite CSV streamed without Content-Length past the limit gets 413 before the route reads it, and invites no one", async () => {
    const { org, owner } = await createOrgWithCast({ plan: "pro" });
    const before = await snapshotTable("invitations", org.id);
    const res = await send(owner.cookie, "POST", `/api/orgs/${org.id}/invitations/bulk`, "text/csv", streamOf("email,role\n", 3 * CONTROL_PLANE_MAX_BODY_BYTES));
    expect(res.status).toBe(413);
    expect(res.body.error).toMatchObject({ code: "request_too_large", type: "request_too_large", param: null });
    expect(res.body.error.message).toContain(String(CONTROL_PLANE_MAX_BODY_BYTES));
    expect(await snapshotTable("invitations", org.id)).toEqual(before);
  });

  it("a JSON body streamed without Content-Length past the limit gets 413 and changes nothing", async () => {
    const { org, owner } = await createOrgWithCast();
    const before = await snapshotTable("orgs");
    const res = await send(owner.cookie, "PATCH", `/api/orgs/${org.id}/settings`, "application/json", streamOf('{"name":"', 2 * CONTROL_PLANE_MAX_BODY_BYTES));
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe("request_too_large");
    expect(await snapshotTable("orgs")).toEqual(before);
  });

  it("a declared Content-Length over the limit is refused with 413 (even before sign-in is checked)", async () => {
    const big = "a".repeat(CONTROL_PLANE_MAX_BODY_BYTES + 1);
    const res = await send("", "POST", "/api/auth/login", "application/json", JSON.stringify({ email: "x@example.com", password: big }));
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe("request_too_large");
  });

  it("a body just under the limit still reaches the route (which applies its own rules)", async () => {
    const { org, owner } = await createOrgWithCast({ plan: "pro" });
    const res = await send(owner.cookie, "POST", `/api/orgs/${org.id}/invitations/bulk`, "text/csv", streamOf("email,role\n", CONTROL_PLANE_MAX_BODY_BYTES - 64 * 1024));
    expect(res.status).toBe(400);
    expect(res.body.error.message).toContain("larger than 200,000 characters");
  });

  it("ordinary JSON bodies are unaffected", async () => {
    const { org, owner } = await createOrgWithCast();
    const res = await call(owner, "PATCH", `/api/orgs/${org.id}/settings`, { invitation_expiry_days: 9 });
    expect(res.status).toBe(200);
    expect((res.body as { invitation_expiry_days: number }).invitation_expiry_days).toBe(9);
  });
});
