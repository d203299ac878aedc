/**
 * A bare `wrangler deploy` ships the top level of wrangler.toml, so it must be production-safe; the
 * development settings (public dev outbox, private upstreams) live in `[env.dev]`, and a Worker running
 * with ENVIRONMENT=development refuses every request whose host is not loopback.
 */
import { createExecutionContext, env, SELF, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import wranglerToml from "../wrangler.toml?raw";
import worker from "../src/index";

/** `KEY = "value"` pairs of one `[section]` of the TOML text (enough for flat var tables). */
function section(name: string): Record<string, string> {
  const lines = wranglerToml.split("\n");
  const start = lines.findIndex((l) => l.trim() === `[${name}]`);
  expect(start, `[${name}] present`).toBeGreaterThanOrEqual(0);
  const out: Record<string, string> = {};
  for (const line of lines.slice(start + 1)) {
    if (line.trim().startsWith("[")) break;
    const m = /^\s*([A-Z_]+)\s*=\s*"([^"]*)"/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

async function fetchWith(url: string, overrides: Record<string, string> = {}) {
  const ctx = createExecutionContext();
  const res = await worker.fetch(new Request(url), { ...env, ...overrides }, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

describe("deploy safety", () => {
  it("the top-level [vars] (what a bare `wrangler deploy` ships) are production settings; development lives in [env.dev]", () => {
    expect(section("vars")).toMatchObject({ ENVIRONMENT: "production", ALLOW_PRIVATE_UPSTREAMS: "false" });
    expect(section("vars").APP_URL).toMatch(/^https:\/\//);
    expect(section("env.dev.vars")).toMatchObject({ ENVIRONMENT: "development", ALLOW_PRIVATE_UPSTREAMS: "true" });
    for (const target of ["env.staging.vars", "env.production.vars"]) expect(section(target)).toMatchObject({ ALLOW_PRIVATE_UPSTREAMS: "false" });
    expect(section("env.production.vars").ENVIRONMENT).toBe("production");
  });

  it.each(["https://tollgate.example.com", "http://203.0.113.9:8787", "http://[2001:db8::1]:8787", "http://localhost.example.com"])(
    "ENVIRONMENT=development on the non-loopback host %s refuses every request (500 in the error shape), dev outbox included",
    async (origin) => {
      for (const path of ["/api/health", "/api/dev/outbox", "/v1/models"]) {
        const res = await fetchWith(`${origin}${path}`);
        expect(res.status, path).toBe(500);
        const body = (await res.json()) as { error: { code: string; message: string } };
        expect(body.error.code).toBe("internal_error");
        expect(body.error.message).toContain("development settings on a public host");
      }
    },
  );

  it.each(["http://localhost", "http://localhost:8787", "http://127.0.0.1:8787", "http://127.5.6.7", "http://[::1]:8787", "http://app.localhost"])(
    "ENVIRONMENT=development on the loopback host %s serves normally",
    async (origin) => {
      const res = await fetchWith(`${origin}/api/health`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ ok: true, environment: "development" });
    },
  );

  it("production settings serve any host, and the dev outbox does not exist there", async () => {
    const prod = { ENVIRONMENT: "production", ALLOW_PRIVATE_UPSTREAMS: "false" };
    expect((await fetchWith("https://tollgate.example.com/api/health", prod)).status).toBe(200);
    const outbox = await fetchWith("https://tollgate.example.com/api/dev/outbox", prod);
    expect(outbox.status).toBe(404);
  });

  it("the test Worker itself runs the [env.dev] settings", async () => {
    expect(await (await SELF.fetch("http://localhost/api/health")).json()).toEqual({ ok: true, environment: "development" });
  });
});
