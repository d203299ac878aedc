/**
 * Bench build of the gateway: the real Worker (src/index.ts) plus one bench-only route,
 * `POST /__bench/admit-rate?n=&concurrency=&org=&key=&hash=`, which drives `admit` (then `release`)
 * against one org's gate from inside workerd to measure per-org admissions per second.
 */
import { gateAdmit, gateRelease, orgGate } from "../src/durable-objects/org-gate-client";
import type { AdmitOk } from "../src/durable-objects/gate-protocol";
import type { Env } from "../src/env";
import app from "../src/index";

export { OrgGate } from "../src/index";

async function admitRate(url: URL, env: Env): Promise<Response> {
  const n = Number(url.searchParams.get("n") ?? 2000);
  const concurrency = Number(url.searchParams.get("concurrency") ?? 32);
  const orgId = url.searchParams.get("org")!;
  const keyId = url.searchParams.get("key")!;
  const keyHash = url.searchParams.get("hash")!;
  const ok: AdmitOk[] = [];
  let next = 0;
  let denied = 0;
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        next++;
        const r = await gateAdmit(env, {
          orgId, keyId, keyHash, requestId: `req_bench${next}`, endpoint: "chat.completions", model: "gpt-4o-mini",
          estimate: { inputTokens: 20, outputTokens: 20 }, attribution: { customerId: null, tags: {}, traceId: null },
        });
        if ("ok" in r && r.ok) ok.push(r);
        else denied++;
      }
    }),
  );
  const ms = Date.now() - t0;
  await Promise.all(ok.map((a) => gateRelease(env, { orgId, reservationId: a.reservationId, status: 499, latencyMs: 0, context: { requestId: "bench", keyId, teamId: null, endpoint: "chat.completions", providerName: "openai", model: "gpt-4o-mini", price: a.price, attribution: { customerId: null, tags: {}, traceId: null }, createdAt: t0 } })));
  return Response.json({ n, admitted: ok.length, denied, ms, admitsPerSecond: Math.round((n / Math.max(ms, 1)) * 1000) });
}

/** Round trip of a read-only gate RPC (`verifyKey`: no storage write, so no commit to wait for). */
async function readRtt(url: URL, env: Env): Promise<Response> {
  const n = Number(url.searchParams.get("n") ?? 1000);
  const orgId = url.searchParams.get("org")!;
  const stub = orgGate(env, orgId);
  const t0 = Date.now();
  for (let i = 0; i < n; i++) await stub.verifyKey(orgId, url.searchParams.get("key")!, url.searchParams.get("hash")!);
  return Response.json({ n, ms: Date.now() - t0 });
}

export default {
  fetch(request: Request, env: Env, ctx: ExecutionContext) {
    const url = new URL(request.url);
    if (url.pathname === "/__bench/admit-rate") return admitRate(url, env);
    if (url.pathname === "/__bench/read-rtt") return readRtt(url, env);
    return app.fetch(request, env, ctx);
  },
};
