// First-run seed for `npm start`, through the public API (the same paths a user takes): demo user (signup),
// their personal org, a demo provider pointing at the local demo upstream, and a virtual key.
// The key is shown once by the API, so it is kept in .tollgate/demo.json (local dev only) to print it again.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

const DEMO = { email: "demo@tollgate.local", password: "tollgate-demo-password", name: "Demo User" };

async function api(base, origin, cookie, method, path, body) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { origin, "content-type": "application/json", ...(cookie ? { cookie } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json().catch(() => null);
  return { status: res.status, json, setCookie: res.headers.get("set-cookie") };
}

/** Seeds once and returns the demo credentials (re-seeding if the local database was wiped). */
export async function seedDemo({ base, origin, upstreamUrl, stateFile }) {
  if (existsSync(stateFile)) {
    const saved = JSON.parse(readFileSync(stateFile, "utf8"));
    const probe = await fetch(`${base}/v1/models`, { headers: { authorization: `Bearer ${saved.key}` } }).catch(() => null);
    if (probe?.ok) {
      // The demo upstream port may differ from last run: point the demo provider at it again.
      const login = await api(base, origin, null, "POST", "/api/auth/login", { email: DEMO.email, password: DEMO.password });
      const cookie = login.setCookie?.split(";")[0];
      if (cookie) await api(base, origin, cookie, "PATCH", `/api/orgs/${saved.orgId}/providers/${saved.providerId}`, { base_url: `${upstreamUrl}/v1` });
      return saved;
    }
  }
  let auth = await api(base, origin, null, "POST", "/api/auth/signup", DEMO);
  if (auth.status === 409) auth = await api(base, origin, null, "POST", "/api/auth/login", { email: DEMO.email, password: DEMO.password });
  if (auth.status >= 300) throw new Error(`demo sign-in failed: ${auth.status} ${JSON.stringify(auth.json)}`);
  const cookie = auth.setCookie?.split(";")[0];
  const me = await api(base, origin, cookie, "GET", "/api/me");
  const membership = me.json.memberships.find((m) => m.role === "owner") ?? me.json.memberships[0];
  const orgId = membership.org.id;
  const providers = await api(base, origin, cookie, "GET", `/api/orgs/${orgId}/providers`);
  let provider = providers.json?.data?.find((p) => p.name === "demo");
  if (!provider) {
    const created = await api(base, origin, cookie, "POST", `/api/orgs/${orgId}/providers`, { name: "demo", type: "openai_compatible", base_url: `${upstreamUrl}/v1`, api_key: "demo-upstream-key", is_default: true });
    if (created.status >= 300) throw new Error(`demo provider failed: ${created.status} ${JSON.stringify(created.json)}`);
    provider = created.json;
  } else {
    await api(base, origin, cookie, "PATCH", `/api/orgs/${orgId}/providers/${provider.id}`, { base_url: `${upstreamUrl}/v1` });
  }
  const key = await api(base, origin, cookie, "POST", `/api/orgs/${orgId}/keys`, { name: "demo key" });
  if (key.status >= 300) throw new Error(`demo key failed: ${key.status} ${JSON.stringify(key.json)}`);
  const state = { ...DEMO, orgId, orgName: membership.org.name, providerId: provider.id, key: key.json.key };
  mkdirSync(dirname(stateFile), { recursive: true });
  writeFileSync(stateFile, JSON.stringify(state, null, 2));
  return state;
}
