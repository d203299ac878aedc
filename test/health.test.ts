import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";

describe("skeleton", () => {
  it("answers health with the environment and a request id", async () => {
    const res = await SELF.fetch("http://localhost/api/health");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, environment: "development" });
    expect(res.headers.get("x-request-id")).toMatch(/^req_/);
  });

  it("answers unknown routes with 404 in the OpenAI error shape", async () => {
    const res = await SELF.fetch("http://localhost/api/nope");
    expect(res.status).toBe(404);
    const body = (await res.json()) as { error: { code: string; type: string; param: null; request_id: string } };
    expect(body.error.code).toBe("not_found");
    expect(body.error.type).toBe("not_found");
    expect(body.error.param).toBeNull();
    expect(body.error.request_id).toMatch(/^req_/);
  });
});

describe("mock servers", () => {
  it("are reachable from inside workerd on loopback", async () => {
    const { inject } = await import("vitest");
    const url = inject("mockUrls").echo!;
    const res = await fetch(`${url}/ping`, { method: "POST", body: "hi" });
    expect(await res.json()).toEqual({ method: "POST", path: "/ping", body: "hi" });
  });
});
