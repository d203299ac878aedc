/**
 * Bench build of the gateway: the real Worker (src/index.ts) plus one bench-only route,
 * `POST /__bench/admit-rate?n=&concurrency=&org=&key=&hash=`, which drives `admit` (then `release`)
 * against one org's gate from inside workerd to measure per-org admissions per second.
 */
import { gateAdmit, gateRelease, orgGate } from "../src/durable-objects/org-gate-client";
import type { AdmitOk } from "../src/durable-objects/gate-protocol";
import type { Env } from "../src/env";
import app from "../src/index";
import { LeaseClient } from "../src/proxy/lease-client";

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

/**
 * Per-org admissions per second through one isolate's lease client (lease mode, budgeted org), and
 * lease calls per admission; every admission is then settled through the same client.
 */
async function leaseAdmitRate(url: URL, env: Env): Promise<Response> {
  const n = Number(url.searchParams.get("n") ?? 20000);
  const concurrency = Number(url.searchParams.get("concurrency") ?? 64);
  const orgId = url.searchParams.get("org")!;
  const keyId = url.searchParams.get("key")!;
  const keyHash = url.searchParams.get("hash")!;
  const client = new LeaseClient();
  const ok: AdmitOk[] = [];
  let next = 0;
  let denied = 0;
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        const r = await client.admit(env, {
          orgId, keyId, keyHash, requestId: `req_lbench${i}`, endpoint: "chat.completions", model: "gpt-4o-mini",
          estimate: { inputTokens: 20, outputTokens: 20 }, attribution: { customerId: `cus_${i % 100}`, tags: { env: "bench" }, traceId: null },
        });
        if ("ok" in r && r.ok) ok.push(r);
        else denied++;
      }
    }),
  );
  const ms = Date.now() - t0;
  const admitRpcs = client.rpcs;
  // Released 64 at a time: each waiting release holds a timer, and one request may hold at most 10,000.
  for (let i = 0; i < ok.length; i += 64) {
    await Promise.all(ok.slice(i, i + 64).map((a, j) => client.release(env, { orgId, reservationId: a.reservationId, status: 499, latencyMs: 0, context: { requestId: `req_lbench_rel${i + j}`, keyId, teamId: null, endpoint: "chat.completions", providerName: "openai", model: "gpt-4o-mini", price: a.price, attribution: { customerId: null, tags: {}, traceId: null }, createdAt: t0 } })));
  }
  return Response.json({ n, admitted: ok.length, denied, ms, admitsPerSecond: Math.round((n / Math.max(ms, 1)) * 1000), rpcsDuringAdmission: admitRpcs, rpcsPerAdmission: Math.round((admitRpcs / n) * 1e4) / 1e4, rpcsWithReleases: client.rpcs });
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
    if (url.pathname === "/__bench/lease-admit-rate") return leaseAdmitRate(url, env);
    return app.fetch(request, env, ctx);
  },
};
