#!/usr/bin/env node
/**
 * `npm run bench`: the gateway against a direct call to the same mock upstream and against a no-op
 * passthrough Worker, both Workers served by the `workerd` binary itself (no wrangler, no Miniflare).
 *
 *   1. bundle the gateway (bench/gateway-entry.ts → src/index.ts) and the bench D1 store with esbuild;
 *   2. generate dist/bench/bench.capnp: gateway (+ OrgGate DO, SQLite on local disk), no-op Worker,
 *      D1 stand-in (bench/d1-shim.js over a SQLite DO), loopback network;
 *   3. start the Node upstream (bench/upstream.mjs) and workerd; apply migrations/*.sql and seed an
 *      org (enterprise plan: no plan RPM), a key, a provider (sealed key) and use a catalog-priced model;
 *   4. one interleaved run: p50/p99 at concurrency 1, RPS at concurrency 32, streaming time to first
 *      chunk, D1 queries per proxied request, per-org admits/second through the DO;
 *   5. guardrail evaluation on a typical chat body, in-process (bench/guardrails.mjs).
 * Results print as a table and are written to bench/results/latest.json.
 * Options (env): BENCH_REQUESTS (c=1 samples per target, default 2000), BENCH_SECONDS (per RPS round, default 4),
 * BENCH_PROFILE=<target> (instead of the run: CPU-profile that Worker under load through workerd's
 * inspector and print the functions with the most self time).
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { createServer } from "node:net";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";
import { startUpstream } from "./upstream.mjs";
import { benchGuardrails } from "./guardrails.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..");
// Build output goes under dist/ (git-ignored).
const out = join(root, "dist", "bench");
// SQLite-backed DOs need localDisk; on tmpfs (/dev/shm) their commits cost memory, not fsyncs.
// BENCH_STATE_DIR=bench/.state measures on the real disk instead.
const state = process.env.BENCH_STATE_DIR ? resolve(process.env.BENCH_STATE_DIR) : existsSync("/dev/shm") ? `/dev/shm/tollgate-bench-${process.pid}` : join(here, ".state");
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 2000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const PROFILE = process.env.BENCH_PROFILE ?? null;
const ENCRYPTION_KEY = "YmVuY2gtb25seS1lbmNyeXB0aW9uLWtleS0zMi1ieXQ=";

const freePort = () => new Promise((r) => { const s = createServer(); s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => r(p)); }); });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function bundle() {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const common = { bundle: true, format: "esm", target: "es2022", logLevel: "error" };
  await build({ ...common, entryPoints: [join(here, "gateway-entry.ts")], outfile: join(out, "gateway.js"), platform: "neutral", conditions: ["workerd", "worker", "browser"], mainFields: ["module", "main"], external: ["cloudflare:*", "node:*"], minify: !PROFILE });
  // Diagnostic twin: same Worker with the gate calls stubbed (bench/fake-gate-calls.ts).
  const fakeGate = { name: "fake-gate", setup(b) { b.onResolve({ filter: /\/gate-calls$/ }, () => ({ path: join(here, "fake-gate-calls.ts") })); } };
  await build({ ...common, entryPoints: [join(here, "gateway-entry.ts")], outfile: join(out, "gateway-nogate.js"), platform: "neutral", conditions: ["workerd", "worker", "browser"], mainFields: ["module", "main"], external: ["cloudflare:*", "node:*"], minify: !PROFILE, plugins: [fakeGate] });
  await build({ ...common, entryPoints: [join(here, "seed-helpers.ts")], outfile: join(out, "seed-helpers.mjs"), platform: "node" });
}

function capnp(ports, upstreamUrl) {
  const text = (name, value) => `(name = "${name}", text = ${JSON.stringify(value)})`;
  const vars = {
    ENVIRONMENT: "bench", ORG_MODE: "multi", ALLOW_PRIVATE_UPSTREAMS: "true", INVITE_EXPIRY_DAYS: "7", APP_URL: "http://localhost:8787",
    SESSION_TTL_HOURS: "168", MAX_BODY_BYTES: "4194304", ENCRYPTION_KEY,
    SESSION_SIGNING_KEYS: "bench:YmVuY2gtb25seS1zZXNzaW9uLXNpZ25pbmcta2V5LTMyYnl0ZXM=",
  };
  return `using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "gateway", worker = .gateway),
    (name = "gateway-nogate", worker = .gatewayNogate),
    (name = "noop", worker = .noop),
    (name = "d1", worker = .d1),
    (name = "do-disk", disk = (path = ${JSON.stringify(state)}, writable = true)),
    (name = "internet", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [
    (name = "gateway", address = "127.0.0.1:${ports.gateway}", http = (), service = "gateway"),
    (name = "noop", address = "127.0.0.1:${ports.noop}", http = (), service = "noop"),
    (name = "gateway-nogate", address = "127.0.0.1:${ports.nogate}", http = (), service = "gateway-nogate"),
    (name = "d1", address = "127.0.0.1:${ports.d1}", http = (), service = "d1"),
  ],
  extensions = [(modules = [(name = "bench:d1-shim", esModule = embed "${relative(out, join(here, "d1-shim.js"))}", internal = true)])],
);

const gateway :Workerd.Worker = (
  modules = [(name = "worker.js", esModule = embed "gateway.js")],
  compatibilityDate = "2026-10-15",
  compatibilityFlags = ["nodejs_compat"],
  bindings = [
    (name = "DB", wrapped = (moduleName = "bench:d1-shim", innerBindings = [(name = "ns", durableObjectNamespace = (className = "D1Store", serviceName = "d1"))])),
    (name = "ORG_GATE", durableObjectNamespace = "OrgGate"),
    ${Object.entries(vars).map(([k, v]) => text(k, v)).join(",\n    ")},
  ],
  durableObjectNamespaces = [(className = "OrgGate", uniqueKey = "bench-org-gate", enableSql = true)],
  durableObjectStorage = (localDisk = "do-disk"),
);

const gatewayNogate :Workerd.Worker = (
  modules = [(name = "worker.js", esModule = embed "gateway-nogate.js")],
  compatibilityDate = "2026-10-15",
  bindings = [
    (name = "DB", wrapped = (moduleName = "bench:d1-shim", innerBindings = [(name = "ns", durableObjectNamespace = (className = "D1Store", serviceName = "d1"))])),
    (name = "ORG_GATE", durableObjectNamespace = (className = "OrgGate", serviceName = "gateway")),
    ${Object.entries(vars).map(([k, v]) => text(k, v)).join(",\n    ")},
  ],
);

const noop :Workerd.Worker = (
  modules = [(name = "worker.js", esModule = embed "${relative(out, join(here, "noop-worker.js"))}")],
  compatibilityDate = "2026-10-15",
  bindings = [${text("UPSTREAM", upstreamUrl)}],
);

const d1 :Workerd.Worker = (
  modules = [(name = "worker.js", esModule = embed "${relative(out, join(here, "d1-store.js"))}")],
  compatibilityDate = "2026-10-15",
  bindings = [(name = "STORE", durableObjectNamespace = "D1Store")],
  durableObjectNamespaces = [(className = "D1Store", uniqueKey = "bench-d1-store", enableSql = true)],
  durableObjectStorage = (localDisk = "do-disk"),
);
`;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

/** One HTTP request; resolves with status, elapsed ms, time to first body byte, and the body. */
function request(url, { method = "POST", headers = {}, body } = {}) {
  return new Promise((resolvePromise, reject) => {
    const t0 = process.hrtime.bigint();
    let ttfc = null;
    const req = http.request(url, { method, headers, agent }, (res) => {
      const parts = [];
      res.on("data", (c) => {
        if (ttfc === null) ttfc = Number(process.hrtime.bigint() - t0) / 1e6;
        parts.push(c);
      });
      res.on("end", () => resolvePromise({ status: res.statusCode, ms: Number(process.hrtime.bigint() - t0) / 1e6, ttfc, headers: res.headers, body: Buffer.concat(parts).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", reject);
    if (body) req.end(body);
    else req.end();
  });
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const r2 = (x) => Math.round(x * 100) / 100;

async function waitFor(url) {
  for (let i = 0; i < 200; i++) {
    try {
      await request(url, { method: "GET" });
      return;
    } catch {
      await sleep(50);
    }
  }
  throw new Error(`workerd did not come up at ${url}`);
}

async function seed(d1Url, upstreamUrl) {
  const helpers = await import(pathToFileURL(join(out, "seed-helpers.mjs")).href);
  const exec = async (sql) => {
    const r = await request(`${d1Url}/exec`, { body: sql, headers: { "content-type": "text/plain" } });
    if (r.status !== 200) throw new Error(`seed failed: ${r.body}`);
  };
  const migrations = readdirSync(join(root, "migrations")).filter((f) => f.endsWith(".sql")).sort();
  for (const f of migrations) await exec(readFileSync(join(root, "migrations", f), "utf8").replaceAll("--> statement-breakpoint", ""));
  const orgId = helpers.newId("org");
  const userId = helpers.newId("usr");
  const keyId = helpers.newId("key");
  const providerId = helpers.newId("prv");
  const key = helpers.mintVirtualKey(orgId, keyId);
  const keyHash = await helpers.sha256Hex(key);
  const sealed = await helpers.encryptSecret(ENCRYPTION_KEY, "sk-bench-upstream", providerId);
  const q = (s) => `'${String(s).replaceAll("'", "''")}'`;
  await exec(`
    INSERT INTO users (id, email, name, password_hash, password_salt, password_iterations) VALUES (${q(userId)}, 'bench@example.com', 'bench', 'x', 'x', 1);
    INSERT INTO orgs (id, name, slug, kind, plan, created_by) VALUES (${q(orgId)}, 'Bench', 'bench', 'team', 'enterprise', ${q(userId)});
    INSERT INTO memberships (org_id, user_id, role) VALUES (${q(orgId)}, ${q(userId)}, 'owner');
    INSERT INTO api_keys (id, org_id, created_by, name, hint, key_hash) VALUES (${q(keyId)}, ${q(orgId)}, ${q(userId)}, 'bench', 'sk-tg-…', ${q(keyHash)});
    INSERT INTO providers (id, org_id, name, type, base_url, api_key_sealed, api_key_hint, is_default) VALUES (${q(providerId)}, ${q(orgId)}, 'openai', 'openai_compatible', ${q(upstreamUrl + "/v1")}, ${q(sealed)}, '…', 1);
  `);
  // Budgeted orgs in lease admission mode: org, key and tag budgets (limits far above what the run
  // spends), the key's own RPM/TPM windows, many customers in the requests. `lease` also has a default
  // customer budget (every customer is its own budget instance, so its own lease); `leaseShared` has
  // none (all customers share one lease per key and model, docs/budgets.md "Leases").
  const leaseOrg = async (slug, withCustomerBudget) => {
    const lOrg = helpers.newId("org");
    const lKeyId = helpers.newId("key");
    const lProvider = helpers.newId("prv");
    const lKey = helpers.mintVirtualKey(lOrg, lKeyId);
    const lHash = await helpers.sha256Hex(lKey);
    const lSealed = await helpers.encryptSecret(ENCRYPTION_KEY, "sk-bench-upstream", lProvider);
    const budget = (scope, scopeId) => `INSERT INTO budgets (id, org_id, scope, scope_id, limit_micros, period, mode, alert_thresholds, created_by) VALUES (${q(helpers.newId("bud"))}, ${q(lOrg)}, '${scope}', ${scopeId === null ? "NULL" : q(scopeId)}, 1000000000000, 'monthly', 'hard', '[50,80,90,100]', ${q(userId)});`;
    await exec(`
      INSERT INTO orgs (id, name, slug, kind, plan, created_by, settings) VALUES (${q(lOrg)}, ${q(slug)}, ${q(slug)}, 'team', 'enterprise', ${q(userId)}, '{"admission":"lease"}');
      INSERT INTO memberships (org_id, user_id, role) VALUES (${q(lOrg)}, ${q(userId)}, 'owner');
      INSERT INTO api_keys (id, org_id, created_by, name, hint, key_hash, rpm, tpm) VALUES (${q(lKeyId)}, ${q(lOrg)}, ${q(userId)}, 'bench', 'sk-tg-…', ${q(lHash)}, 100000000, 1000000000000);
      INSERT INTO providers (id, org_id, name, type, base_url, api_key_sealed, api_key_hint, is_default) VALUES (${q(lProvider)}, ${q(lOrg)}, 'openai', 'openai_compatible', ${q(upstreamUrl + "/v1")}, ${q(lSealed)}, '…', 1);
      ${budget("org", null)}
      ${budget("key", lKeyId)}
      ${withCustomerBudget ? budget("customer", null) : ""}
      ${budget("tag", "env=bench")}
    `);
    return { orgId: lOrg, keyId: lKeyId, key: lKey, keyHash: lHash };
  };
  return { orgId, keyId, key, keyHash, lease: await leaseOrg("bench-leases", true), leaseShared: await leaseOrg("bench-leases-shared", false) };
}

async function d1Stats(d1Url) {
  return JSON.parse((await request(`${d1Url}/stats`, { method: "GET" })).body);
}

/** CPU-profiles one Worker (by service name) under c=16 load via the inspector; prints top self time. */
async function profileTarget(port, service, once) {
  const list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
  const target = list.find((t) => t.id === service || t.title === service) ?? list.find((t) => String(t.webSocketDebuggerUrl).endsWith(`/${service}`));
  if (!target) throw new Error(`no inspector target ${service}: ${list.map((t) => t.id).join(", ")}`);
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  let seq = 0;
  const pending = new Map();
  ws.onmessage = (m) => {
    const d = JSON.parse(m.data);
    if (d.id && pending.has(d.id)) pending.get(d.id)(d.result), pending.delete(d.id);
  };
  await new Promise((r) => (ws.onopen = r));
  const send = (method, params = {}) => new Promise((r) => { const i = ++seq; pending.set(i, r); ws.send(JSON.stringify({ id: i, method, params })); });
  await send("Profiler.enable");
  await send("Profiler.setSamplingInterval", { interval: 100 });
  await send("Profiler.start");
  await Promise.all(Array.from({ length: 16 }, async () => { for (let i = 0; i < 300; i++) await once(); }));
  const { profile } = await send("Profiler.stop");
  ws.close();
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  for (const s of profile.samples) {
    const f = nodes.get(s).callFrame;
    const k = `${f.functionName || "(anonymous)"} ${f.url.split("/").pop()}:${f.lineNumber + 1}`;
    self.set(k, (self.get(k) ?? 0) + 1);
  }
  const total = profile.samples.length;
  console.log(`CPU profile of ${service}: ${total} samples (100 µs)`);
  for (const [k, c] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 40)) console.log(`${((100 * c) / total).toFixed(1).padStart(5)}%  ${k}`);
}

async function main() {
  await bundle();
  rmSync(state, { recursive: true, force: true });
  mkdirSync(state, { recursive: true });
  mkdirSync(join(here, "results"), { recursive: true });
  const upstream = await startUpstream();
  const ports = { gateway: await freePort(), noop: await freePort(), d1: await freePort(), nogate: await freePort() };
  writeFileSync(join(out, "bench.capnp"), capnp(ports, upstream.url));
  const workerdBin = join(root, "node_modules", ".bin", "workerd");
  const inspectorPort = await freePort();
  const wd = spawn(workerdBin, ["serve", join(out, "bench.capnp"), "--experimental", ...(PROFILE ? [`--inspector-addr=127.0.0.1:${inspectorPort}`] : [])], { stdio: ["ignore", "inherit", "inherit"] });
  const stop = () => { try { wd.kill("SIGTERM"); } catch { /* gone */ } };
  process.on("exit", stop);
  try {
    const base = { direct: upstream.url, noop: `http://127.0.0.1:${ports.noop}`, gateway: `http://127.0.0.1:${ports.gateway}`, "gateway-nogate": `http://127.0.0.1:${ports.nogate}` };
    const d1Url = `http://127.0.0.1:${ports.d1}`;
    await waitFor(`${d1Url}/stats`);
    await waitFor(`${base.noop}/`);
    const s = await seed(d1Url, upstream.url);
    const payload = JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Say hello to the benchmark." }], max_tokens: 64 });
    const streamPayload = JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Say hello to the benchmark." }], max_tokens: 64, stream: true });
    const headers = { "content-type": "application/json", authorization: `Bearer ${s.key}` };
    // "gateway-nogate" is a diagnostic: the same Worker with the DO calls stubbed out.
    // "gateway-lease": the same gateway, the budgeted org in lease mode (customer + tag on every request).
    // "gateway-lease-shared": a lease org without customer budgets (one lease for all customers).
    base["gateway-lease"] = base.gateway;
    base["gateway-lease-shared"] = base.gateway;
    const targets = ["direct", "noop", "gateway", "gateway-nogate", "gateway-lease", "gateway-lease-shared"];
    const urlOf = (t) => `${base[t]}/v1/chat/completions`;
    let customer = 0;
    const leaseOf = { "gateway-lease": s.lease, "gateway-lease-shared": s.leaseShared };
    const headersOf = (t) => (leaseOf[t] ? { ...headers, authorization: `Bearer ${leaseOf[t].key}`, "x-tollgate-customer": `cus_${customer++ % 100}`, "x-tollgate-tags": "env=bench" } : headers);

    // Warm-up (JIT, connection pools, the gate's hot copy, the decrypted-key cache).
    for (let i = 0; i < 300; i++) for (const t of targets) {
      const r = await request(urlOf(t), { headers: headersOf(t), body: payload });
      if (r.status !== 200) throw new Error(`${t} warm-up answered ${r.status}: ${r.body.slice(0, 300)}`);
    }

    if (PROFILE) {
      await profileTarget(inspectorPort, PROFILE, () => request(urlOf(PROFILE), { headers, body: payload }));
      return;
    }

    // 1. Latency at concurrency 1, interleaved, plus D1 queries per proxied request.
    const lat = Object.fromEntries(targets.map((t) => [t, []]));
    await sleep(2500); // the warm-up's cost events reach D1 before the count starts
    const d1Before = await d1Stats(d1Url);
    const phases = { admit: [], upstream: [], total: [] };
    for (let i = 0; i < REQUESTS; i++) for (const t of targets) {
      const r = await request(urlOf(t), { headers: headersOf(t), body: payload });
      lat[t].push(r.ms);
      if (t === "gateway") for (const m of String(r.headers["server-timing"]).matchAll(/(gw-admit|upstream|gw-total);dur=(\d+(?:\.\d+)?)/g)) phases[m[1].replace("gw-", "")].push(Number(m[2]));
    }
    await sleep(2500); // let the gate's alarm flush the outbox of this phase
    const d1After = await d1Stats(d1Url);

    // 2. Streaming time to first chunk, interleaved.
    const ttfc = Object.fromEntries(targets.map((t) => [t, []]));
    for (let i = 0; i < Math.min(REQUESTS, 500); i++) for (const t of targets) ttfc[t].push((await request(urlOf(t), { headers: headersOf(t), body: streamPayload })).ttfc);

    // 3. Throughput at concurrency 32: rounds rotate the targets so drift hits all equally.
    const rps = Object.fromEntries(targets.map((t) => [t, []]));
    for (let round = 0; round < 3; round++) for (const t of targets) {
      let done = 0;
      const until = Date.now() + SECONDS * 1000;
      const t0 = process.hrtime.bigint();
      await Promise.all(Array.from({ length: 32 }, async () => {
        while (Date.now() < until) {
          const r = await request(urlOf(t), { headers: headersOf(t), body: payload });
          if (r.status !== 200) throw new Error(`${t} answered ${r.status}`);
          done++;
        }
      }));
      rps[t].push(done / (Number(process.hrtime.bigint() - t0) / 1e9));
    }

    // 4. Per-org admits/second through the DO (driven from inside workerd).
    const admitAt = (n, c) => request(`${base.gateway}/__bench/admit-rate?n=${n}&concurrency=${c}&org=${s.orgId}&key=${s.keyId}&hash=${s.keyHash}`, { body: "" }).then((r) => JSON.parse(r.body));
    const admit = await admitAt(5000, 64);
    const admitSerial = await admitAt(1000, 1);
    const leaseAt = (n, c, o) => request(`${base.gateway}/__bench/lease-admit-rate?n=${n}&concurrency=${c}&org=${o.orgId}&key=${o.keyId}&hash=${o.keyHash}`, { body: "" }).then((r) => JSON.parse(r.body));
    const leaseAdmit = await leaseAt(20000, 64, s.lease);
    const leaseAdmitShared = await leaseAt(20000, 64, s.leaseShared);
    const readRtt = JSON.parse((await request(`${base.gateway}/__bench/read-rtt?n=1000&org=${s.orgId}&key=${s.keyId}&hash=${s.keyHash}`, { body: "" })).body);

    const rows = targets.map((t) => ({
      target: t,
      p50_ms: r2(pct(lat[t], 50)),
      p99_ms: r2(pct(lat[t], 99)),
      rps_c32: Math.round(rps[t].reduce((a, b) => a + b, 0) / rps[t].length),
      stream_ttfc_p50_ms: r2(pct(ttfc[t], 50)),
      stream_ttfc_p99_ms: r2(pct(ttfc[t], 99)),
    }));
    const g = rows[2], n = rows[1], ng = rows[3], gl = rows[4], gls = rows[5];
    const summary = {
      when: new Date().toISOString(),
      requests_per_target_c1: REQUESTS,
      rows,
      gateway_minus_noop: { p50_ms: r2(g.p50_ms - n.p50_ms), p99_ms: r2(g.p99_ms - n.p99_ms), rps_ratio: r2(g.rps_c32 / n.rps_c32), ttfc_p50_ms: r2(g.stream_ttfc_p50_ms - n.stream_ttfc_p50_ms) },
      targets: { p50_ms: 0.4, p99_ms: 2, rps_ratio: 0.6, rpcs_per_request: 0.05, admits_per_second: 25000 },
      gateway_lease_minus_noop: { p50_ms: r2(gl.p50_ms - n.p50_ms), p99_ms: r2(gl.p99_ms - n.p99_ms), rps_ratio: r2(gl.rps_c32 / n.rps_c32), ttfc_p50_ms: r2(gl.stream_ttfc_p50_ms - n.stream_ttfc_p50_ms) },
      lease_admits_per_second_one_org_budgeted: leaseAdmit.admitsPerSecond,
      lease_rpcs_per_admission: leaseAdmit.rpcsPerAdmission,
      lease_admit_run: leaseAdmit,
      gateway_lease_shared_minus_noop: { p50_ms: r2(gls.p50_ms - n.p50_ms), p99_ms: r2(gls.p99_ms - n.p99_ms), rps_ratio: r2(gls.rps_c32 / n.rps_c32), ttfc_p50_ms: r2(gls.stream_ttfc_p50_ms - n.stream_ttfc_p50_ms) },
      lease_shared_admits_per_second_one_org: leaseAdmitShared.admitsPerSecond,
      lease_shared_rpcs_per_admission: leaseAdmitShared.rpcsPerAdmission,
      lease_shared_admit_run: leaseAdmitShared,
      gateway_nogate_minus_noop: { p50_ms: r2(ng.p50_ms - n.p50_ms), p99_ms: r2(ng.p99_ms - n.p99_ms), rps_ratio: r2(ng.rps_c32 / n.rps_c32) },
      gateway_server_timing_p50_ms: { admit: pct(phases.admit, 50), upstream: pct(phases.upstream, 50), total: pct(phases.total, 50) },
      // All of it is the gate's alarm copying cost events (1 row per request) to D1 in batches, after the
      // responses; the request path itself makes no D1 call (test/proxy-d1-zero.test.ts proves it).
      d1_statements_per_proxied_request_async_outbox: r2((d1After.queries - d1Before.queries) / REQUESTS),
      d1_round_trips_per_proxied_request_async_outbox: Math.round(((d1After.roundTrips - d1Before.roundTrips) / REQUESTS) * 1e4) / 1e4,
      do_admits_per_second_one_org: admit.admitsPerSecond,
      do_admit_run: admit,
      do_admit_round_trip_ms_c1: r2(admitSerial.ms / admitSerial.n),
      do_read_only_rpc_round_trip_ms_c1: r2(readRtt.ms / readRtt.n),
      // In-process micro-benchmark (bench/guardrails.mjs): evaluateRequest on a typical chat body; target p50 < 0.1 ms.
      guardrail_evaluation: await benchGuardrails(),
    };
    console.table(rows);
    console.log(JSON.stringify({ gateway_minus_noop: summary.gateway_minus_noop, gateway_lease_minus_noop: summary.gateway_lease_minus_noop, lease_admits_per_second_one_org_budgeted: summary.lease_admits_per_second_one_org_budgeted, lease_rpcs_per_admission: summary.lease_rpcs_per_admission, gateway_lease_shared_minus_noop: summary.gateway_lease_shared_minus_noop, lease_shared_admits_per_second_one_org: summary.lease_shared_admits_per_second_one_org, lease_shared_rpcs_per_admission: summary.lease_shared_rpcs_per_admission, gateway_nogate_minus_noop: summary.gateway_nogate_minus_noop, server_timing: summary.gateway_server_timing_p50_ms, d1_statements: summary.d1_statements_per_proxied_request_async_outbox, d1_round_trips: summary.d1_round_trips_per_proxied_request_async_outbox, do_admits_per_second_one_org: summary.do_admits_per_second_one_org, do_admit_round_trip_ms_c1: summary.do_admit_round_trip_ms_c1, do_read_only_rpc_round_trip_ms_c1: summary.do_read_only_rpc_round_trip_ms_c1, guardrail_evaluation: summary.guardrail_evaluation }, null, 2));
    writeFileSync(join(here, "results", "latest.json"), JSON.stringify(summary, null, 2));
  } finally {
    stop();
    await upstream.close();
    rmSync(state, { recursive: true, force: true });
  }
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
