#!/usr/bin/env node
// `npm start`: local Tollgate in one command. Applies local D1 migrations, starts the demo model provider,
// the Worker (wrangler dev, local mode) and the dashboard, and seeds a demo user/org/provider/key on first run.
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
process.chdir(root);
process.env.WRANGLER_SEND_METRICS = "false";

const PORT = Number(process.env.PORT ?? 8787);
const UPSTREAM_PORT = Number(process.env.DEMO_UPSTREAM_PORT ?? PORT + 3);
const DASHBOARD_PORT = Number(process.env.DASHBOARD_PORT ?? PORT + 1);
const STRIPE_PORT = Number(process.env.STRIPE_STANDIN_PORT ?? PORT + 4);
// Local billing runs against the Stripe stand-in (test/mock-servers/stripe.mjs); these are not real keys.
const LOCAL_STRIPE = { secretKey: "sk_test_tollgate_local_standin", webhookSecret: "whsec_tollgate_local_standin_secret", pricePro: "price_local_pro", priceEnterprise: "price_local_enterprise" };
const stateFile = join(root, ".tollgate", "demo.json");
const bin = (name) => join(root, "node_modules", ".bin", name);
const children = [];

function log(msg) {
  console.log(`\x1b[36m[tollgate]\x1b[0m ${msg}`);
}

function shutdown(code = 0) {
  for (const c of children) c.kill("SIGTERM");
  process.exit(code);
}
process.on("SIGINT", () => shutdown(0));
process.on("SIGTERM", () => shutdown(0));

if (!existsSync(".dev.vars")) {
  copyFileSync(".dev.vars.example", ".dev.vars");
  log("created .dev.vars from .dev.vars.example (local secrets)");
}

log("applying local D1 migrations…");
const migrate = spawnSync(bin("wrangler"), ["d1", "migrations", "apply", "tollgate", "--local", "--env", "dev"], { stdio: ["ignore", "inherit", "inherit"], env: { ...process.env, CI: "true" } });
if (migrate.status !== 0) shutdown(migrate.status ?? 1);

const { startDemoUpstream } = await import("./demo-upstream.mjs");
const upstream = await startDemoUpstream(UPSTREAM_PORT);
log(`demo model provider (OpenAI-compatible) on ${upstream.url}`);

const { startStripeStandIn } = await import("../test/mock-servers/stripe.mjs");
const stripe = await startStripeStandIn({ port: STRIPE_PORT, webhookUrl: `http://localhost:${PORT}/webhooks/stripe`, webhookSecret: LOCAL_STRIPE.webhookSecret, prices: { [LOCAL_STRIPE.pricePro]: 4900 } });
log(`Stripe stand-in on ${stripe.url} (Checkout "pays" locally and sends the webhooks)`);

const appUrl = `http://localhost:${DASHBOARD_PORT}`;
const stripeVars = [
  `STRIPE_API_URL:${stripe.url}`, `STRIPE_SECRET_KEY:${LOCAL_STRIPE.secretKey}`, `STRIPE_WEBHOOK_SECRET:${LOCAL_STRIPE.webhookSecret}`,
  `STRIPE_PRICE_PRO:${LOCAL_STRIPE.pricePro}`, `STRIPE_PRICE_ENTERPRISE:${LOCAL_STRIPE.priceEnterprise}`,
].flatMap((v) => ["--var", v]);
const worker = spawn(bin("wrangler"), ["dev", "--local", "--env", "dev", "--port", String(PORT), "--var", `APP_URL:${appUrl}`, "--var", "DASHBOARD_ACCEPT_REDIRECT:true", "--var", "CREDITS_ENABLED:true", ...stripeVars], { stdio: ["ignore", "pipe", "inherit"] });
children.push(worker);
worker.stdout.on("data", (d) => process.stdout.write(d));
worker.on("exit", (code) => shutdown(code ?? 1));

const base = `http://localhost:${PORT}`;
for (let i = 0; ; i++) {
  try {
    if ((await fetch(`${base}/api/health`)).ok) break;
  } catch {}
  if (i > 120) {
    log("the Worker did not start within 60 s");
    shutdown(1);
  }
  await new Promise((r) => setTimeout(r, 500));
}

let dashboardUrl = null;
try {
  const { startDashboard } = await import("../dashboard/dev-server.mjs");
  const dash = await startDashboard({ workerUrl: base, port: DASHBOARD_PORT });
  children.push(dash);
  dashboardUrl = dash.url;
} catch (e) {
  log(`dashboard not started: ${e instanceof Error ? e.message : e}`);
}

const { seedDemo } = await import("./seed-demo.mjs");
const demo = await seedDemo({ base, origin: dashboardUrl ?? base, upstreamUrl: upstream.url, stateFile });

log("ready.");
console.log(`
  Worker (API + /v1):  ${base}
  Dashboard:           ${dashboardUrl ?? "(not started)"}
  Stripe stand-in:     ${stripe.url} (Billing → Upgrade pays here; no real card)
  Demo user:           ${demo.email} / ${demo.password}
  Demo org:            ${demo.orgName} (${demo.orgId})
  Demo virtual key:    ${demo.key}

  First request:
    curl ${base}/v1/chat/completions \\
      -H "Authorization: Bearer ${demo.key}" -H "Content-Type: application/json" \\
      -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello from Tollgate"}]}'
`);
