import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { getConfig } from "../src/env";
import { decryptSecret } from "../src/lib/crypto";
import { newId } from "../src/lib/ids";
import { call, createOrgWithCast, snapshotTable } from "./factories";
import { auditRows, createProvider } from "./factories/org-resources";

const providersPath = (orgId: string) => `/api/orgs/${orgId}/providers`;
type ProviderDbRow = { id: string; name: string; api_key_sealed: string; is_default: number; base_url: string };
const rows = async (orgId: string) => (await snapshotTable("providers", orgId)) as ProviderDbRow[];

describe("providers", () => {
  it("an admin connects OpenAI: default base URL, sealed key never returned, first provider becomes default", async () => {
    const { org, admin, viewer } = await createOrgWithCast();
    const secret = "sk-proj-abcdefghijklmnop1234WXYZ";
    const res = await call(admin, "POST", providersPath(org.id), { name: "openai", type: "openai", api_key: secret });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ name: "openai", type: "openai", base_url: "https://api.openai.com/v1", api_key_hint: "…WXYZ", is_default: true });
    expect(JSON.stringify(res.body)).not.toContain(secret);

    const [row] = await rows(org.id);
    expect(row!.api_key_sealed).not.toContain(secret);
    expect(await decryptSecret(getConfig(env).ENCRYPTION_KEY, row!.api_key_sealed, row!.id)).toBe(secret);
    // Bound to its row: the same ciphertext does not open under another provider id.
    await expect(decryptSecret(getConfig(env).ENCRYPTION_KEY, row!.api_key_sealed, newId("prv"))).rejects.toThrow();

    const list = await call(viewer, "GET", providersPath(org.id));
    expect(list.status).toBe(200);
    expect(list.body.data).toHaveLength(1);
    expect(JSON.stringify(list.body)).not.toContain(secret);
    expect(list.body.data[0].api_key_sealed).toBeUndefined();

    const audit = await auditRows(org.id, "provider.create");
    expect(audit).toHaveLength(1);
    expect(JSON.stringify(audit[0])).not.toContain(secret);
    expect(JSON.stringify(audit[0])).not.toContain("WXYZ");
    expect(audit[0]!.after).toEqual({ name: "openai", type: "openai", base_url: "https://api.openai.com/v1", is_default: true });
  });

  it("anthropic gets its default URL; openai_compatible needs base_url (local URLs allowed with ALLOW_PRIVATE_UPSTREAMS=true)", async () => {
    const { org, owner } = await createOrgWithCast();
    const a = await call(owner, "POST", providersPath(org.id), { name: "anthropic", type: "anthropic", api_key: "sk-ant-1234" });
    expect(a.body.base_url).toBe("https://api.anthropic.com");
    expect(a.body.is_default).toBe(true);
    const missing = await call(owner, "POST", providersPath(org.id), { name: "groq", type: "openai_compatible", api_key: "gsk_1" });
    expect(missing.status).toBe(400);
    expect(missing.body.error.param).toBe("base_url");
    const local = await call(owner, "POST", providersPath(org.id), { name: "ollama", type: "openai_compatible", base_url: "http://localhost:11434/v1/", api_key: "none" });
    expect(local.status).toBe(201);
    expect(local.body.base_url).toBe("http://localhost:11434/v1");
    expect(local.body.is_default).toBe(false);
  });

  it("validates name, type, base_url and api_key with param, and writes nothing", async () => {
    const { org, admin } = await createOrgWithCast();
    const cases: Array<[unknown, string]> = [
      [{ type: "openai", api_key: "k" }, "name"],
      [{ name: "Has Space", type: "openai", api_key: "k" }, "name"],
      [{ name: "slash/name", type: "openai", api_key: "k" }, "name"],
      [{ name: "UPPER", type: "openai", api_key: "k" }, "name"],
      [{ name: "-lead", type: "openai", api_key: "k" }, "name"],
      [{ name: "ok", type: "bedrock", api_key: "k" }, "type"],
      [{ name: "ok", type: "openai" }, "api_key"],
      [{ name: "ok", type: "openai", api_key: "  " }, "api_key"],
      [{ name: "ok", type: "openai_compatible", base_url: "not a url", api_key: "k" }, "base_url"],
      [{ name: "ok", type: "openai_compatible", base_url: "ftp://x.example.com", api_key: "k" }, "base_url"],
      [{ name: "ok", type: "openai_compatible", base_url: "https://u:p@x.example.com/v1", api_key: "k" }, "base_url"],
      [{ name: "ok", type: "openai_compatible", base_url: "https://x.example.com/v1?key=1", api_key: "k" }, "base_url"],
      [{ name: "ok", type: "openai", api_key: "k", is_default: "yes" }, "is_default"],
    ];
    for (const [body, param] of cases) {
      const res = await call(admin, "POST", providersPath(org.id), body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.code).toBe("invalid_request");
      expect(res.body.error.param, JSON.stringify(body)).toBe(param);
    }
    expect(await rows(org.id)).toEqual([]);
    expect(await auditRows(org.id)).toEqual([]);
  });

  it("names are unique per org (409) but may repeat across orgs", async () => {
    const { org, admin } = await createOrgWithCast();
    const other = await createOrgWithCast();
    await createProvider(other.org, { name: "shared" });
    expect((await call(admin, "POST", providersPath(org.id), { name: "shared", type: "openai", api_key: "k1" })).status).toBe(201);
    const dup = await call(admin, "POST", providersPath(org.id), { name: "shared", type: "anthropic", api_key: "k2" });
    expect(dup.status).toBe(409);
    expect(dup.body.error.param).toBe("name");
    expect(await rows(org.id)).toHaveLength(1);
  });

  it("keeps exactly one default: a new default clears the old one, un-defaulting is refused, deleting the default promotes the oldest", async () => {
    const { org, admin } = await createOrgWithCast();
    const first = (await call(admin, "POST", providersPath(org.id), { name: "p1", type: "openai", api_key: "k1" })).body;
    const second = (await call(admin, "POST", providersPath(org.id), { name: "p2", type: "anthropic", api_key: "k2", is_default: true })).body;
    const third = (await call(admin, "POST", providersPath(org.id), { name: "p3", type: "openai", api_key: "k3" })).body;
    const defaults = async () => (await rows(org.id)).filter((r) => r.is_default).map((r) => r.id);
    expect(await defaults()).toEqual([second.id]);

    const patched = await call(admin, "PATCH", `${providersPath(org.id)}/${third.id}`, { is_default: true });
    expect(patched.body.is_default).toBe(true);
    expect(await defaults()).toEqual([third.id]);

    const undefault = await call(admin, "PATCH", `${providersPath(org.id)}/${third.id}`, { is_default: false });
    expect(undefault.status).toBe(400);
    expect(undefault.body.error.param).toBe("is_default");
    expect(await defaults()).toEqual([third.id]);

    const del = await call(admin, "DELETE", `${providersPath(org.id)}/${third.id}`);
    expect(del.status).toBe(200);
    expect(del.body).toEqual({ id: third.id, deleted: true, new_default_id: first.id });
    expect(await defaults()).toEqual([first.id]);

    const delOther = await call(admin, "DELETE", `${providersPath(org.id)}/${second.id}`);
    expect(delOther.body.new_default_id).toBeNull();
    expect(await defaults()).toEqual([first.id]);
    expect((await auditRows(org.id)).map((a) => a.action)).toEqual([
      "provider.create", "provider.create", "provider.create", "provider.update", "provider.delete", "provider.delete",
    ]);
  });

  it("PATCH renames, re-points and rotates the key (re-sealed, new hint), never echoing it", async () => {
    const { org, owner } = await createOrgWithCast();
    const p = await createProvider(org, { name: "compat", type: "openai_compatible", baseUrl: "https://old.example.com/v1", isDefault: true });
    const res = await call(owner, "PATCH", `${providersPath(org.id)}/${p.id}`, { name: "compat2", base_url: "https://new.example.com/v1", api_key: "sk-rotated-9876" });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name: "compat2", base_url: "https://new.example.com/v1", api_key_hint: "…9876" });
    const [row] = await rows(org.id);
    expect(await decryptSecret(getConfig(env).ENCRYPTION_KEY, row!.api_key_sealed, p.id)).toBe("sk-rotated-9876");
    const [audit] = await auditRows(org.id, "provider.update");
    expect(audit!.after).toMatchObject({ name: "compat2", credential_rotated: true });
    expect(JSON.stringify(audit)).not.toContain("rotated-9876");

    expect((await call(owner, "PATCH", `${providersPath(org.id)}/${p.id}`, { base_url: null })).body.error.param).toBe("base_url");
    expect((await call(owner, "PATCH", `${providersPath(org.id)}/${p.id}`, {})).status).toBe(400);
    expect((await call(owner, "PATCH", `${providersPath(org.id)}/${p.id}`, { base_url: "https://a:b@x.example.com" })).body.error.param).toBe("base_url");

    const oa = await createProvider(org, { name: "oa", type: "openai", baseUrl: "https://proxy.example.com/v1" });
    const reset = await call(owner, "PATCH", `${providersPath(org.id)}/${oa.id}`, { base_url: null, api_key: "sk-openai-again-1111" });
    expect(reset.body.base_url).toBe("https://api.openai.com/v1");
  });

  it("changing base_url without the API key in the same request is refused (400 api_key) and changes nothing", async () => {
    const { org, owner, admin } = await createOrgWithCast();
    const oa = await createProvider(org, { name: "oa", type: "openai", isDefault: true });
    const compat = await createProvider(org, { name: "compat", type: "openai_compatible", baseUrl: "https://old.example.com/v1" });
    const before = await rows(org.id);
    for (const [id, base_url] of [[oa.id, "https://attacker.example.com/v1"], [compat.id, "https://attacker.example.com/v1"], [compat.id, null]] as const) {
      const res = await call(admin, "PATCH", `${providersPath(org.id)}/${id}`, { base_url, name: "renamed" });
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: "invalid_request", param: base_url === null ? "base_url" : "api_key" });
    }
    expect(await rows(org.id)).toEqual(before);
    expect(await auditRows(org.id, "provider.update")).toEqual([]);
    // Sending the unchanged URL is not a re-point: no key needed, the URL is not rewritten.
    const same = await call(owner, "PATCH", `${providersPath(org.id)}/${compat.id}`, { base_url: "https://old.example.com/v1", name: "compat2" });
    expect(same.status).toBe(200);
    expect((await auditRows(org.id, "provider.update"))[0]!.after).toMatchObject({ base_url_changed: false, credential_rotated: false });
    // With the key, the re-point goes through and is audited as one.
    const moved = await call(admin, "PATCH", `${providersPath(org.id)}/${oa.id}`, { base_url: "https://proxy.example.com/v1", api_key: "sk-new-host-4321" });
    expect(moved.status).toBe(200);
    const audits = await auditRows(org.id, "provider.update");
    expect(audits.find((a) => a.target_id === oa.id)!.after).toMatchObject({ base_url: "https://proxy.example.com/v1", base_url_changed: true, credential_rotated: true });
    const row = (await rows(org.id)).find((r) => r.id === oa.id)!;
    expect(await decryptSecret(getConfig(env).ENCRYPTION_KEY, row.api_key_sealed, oa.id)).toBe("sk-new-host-4321");
  });

  it("members and viewers cannot create, edit or delete providers; unknown ids are 404", async () => {
    const { org, owner, member, viewer } = await createOrgWithCast();
    const p = await createProvider(org, { isDefault: true });
    const before = await rows(org.id);
    for (const who of [member, viewer]) {
      expect((await call(who, "POST", providersPath(org.id), { name: "x", type: "openai", api_key: "k" })).status).toBe(403);
      expect((await call(who, "PATCH", `${providersPath(org.id)}/${p.id}`, { name: "y" })).status).toBe(403);
      expect((await call(who, "DELETE", `${providersPath(org.id)}/${p.id}`)).status).toBe(403);
    }
    expect(await rows(org.id)).toEqual(before);
    const ghost = newId("prv");
    expect((await call(owner, "PATCH", `${providersPath(org.id)}/${ghost}`, { name: "y" })).status).toBe(404);
    expect((await call(owner, "DELETE", `${providersPath(org.id)}/${ghost}`)).status).toBe(404);
  });
});

describe("providers with ALLOW_PRIVATE_UPSTREAMS=false (production setting)", () => {
  it("refuses http and private/loopback base URLs with 400 param base_url, and accepts public https", async () => {
    const { default: app } = await import("../src/index");
    const { createExecutionContext, waitOnExecutionContext } = await import("cloudflare:test");
    const { org, admin } = await createOrgWithCast();
    const prodEnv = { ...env, ALLOW_PRIVATE_UPSTREAMS: "false" };
    const post = async (base_url: string, name: string) => {
      const ctx = createExecutionContext();
      const res = await app.fetch(
        new Request(`http://localhost${providersPath(org.id)}`, {
          method: "POST",
          headers: { cookie: admin.cookie, origin: "http://localhost", "content-type": "application/json" },
          body: JSON.stringify({ name, type: "openai_compatible", base_url, api_key: "k" }),
        }),
        prodEnv,
        ctx,
      );
      await waitOnExecutionContext(ctx);
      return { status: res.status, body: (await res.json()) as any };
    };
    for (const url of ["http://api.example.com/v1", "https://127.0.0.1/v1", "https://localhost/v1", "https://[::1]/v1", "https://10.1.2.3", "https://169.254.169.254", "https://svc.internal/v1"]) {
      const res = await post(url, "blocked");
      expect(res.status, url).toBe(400);
      expect(res.body.error.param).toBe("base_url");
    }
    expect(await rows(org.id)).toEqual([]);
    const ok = await post("https://api.together.xyz/v1", "together");
    expect(ok.status).toBe(201);
  });
});
