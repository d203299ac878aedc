// A small stand-in for the parts of Stripe's REST API that Tollgate calls, so `npm start` and the tests
// run without a Stripe account. The real `stripe` SDK talks to it (config `host`/`port`/`protocol`), so
// requests arrive form-encoded exactly as Stripe receives them and answers use Stripe's JSON shapes:
//   POST /v1/customers, GET /v1/customers/:id
//   POST /v1/checkout/sessions, GET /v1/checkout/sessions/:id
//   POST /v1/billing_portal/sessions
//   GET/POST/DELETE /v1/subscriptions/:id (retrieve, update: items/proration/cancel_at_period_end, cancel)
// Checkout's `url` is a local page (GET /checkout/pay/:id) whose button "pays": it creates the
// subscription, records the events Stripe would send (checkout.session.completed,
// customer.subscription.created, invoice.paid; a payment-mode session — a credit top-up with `price_data`
// lines — sends only checkout.session.completed with payment_status "paid" and amount_total) and, when `webhookUrl` is set, delivers them signed
// with `webhookSecret` (the SDK's own generateTestHeaderString), then redirects to the success URL.
// Test helpers (not Stripe): POST /_test/checkout/:id/complete (pay without the page; returns the
// events), POST /_test/subscriptions/:id/fail_payment|pay (a renewal fails: past_due / is paid: active), GET /_test/events?customer=cus_….
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import Stripe from "stripe";

const API_VERSION = "2026-10-28.endive";
const DAY = 86_400;
const sec = () => Math.floor(Date.now() / 1000);
const id = (prefix) => `${prefix}_${randomBytes(12).toString("base64url").replace(/[-_]/g, "x")}`;

/** Decodes Stripe's form encoding (`a[b][0][c]=v`) into nested objects and arrays. */
export function decodeForm(raw) {
  const out = {};
  for (const [k, v] of new URLSearchParams(raw)) {
    const path = k.split(/\[|\]\[|\]/).filter((p) => p !== "");
    let node = out;
    path.forEach((p, i) => {
      const last = i === path.length - 1;
      const nextIsIndex = !last && /^\d+$/.test(path[i + 1]);
      if (last) node[p] = v;
      else node = node[p] ??= nextIsIndex ? [] : {};
    });
  }
  return out;
}

function stripeError(res, status, type, message, param) {
  res.writeHead(status, { "content-type": "application/json", "request-id": id("req") });
  res.end(JSON.stringify({ error: { type, message, ...(param ? { param } : {}) } }));
}
function send(res, status, body) {
  res.writeHead(status, { "content-type": "application/json", "request-id": id("req") });
  res.end(JSON.stringify(body));
}

/**
 * Starts the stand-in on `port` (0 = any free port). `webhookUrl`/`webhookSecret`: where and how
 * paid checkouts and subscription changes are delivered (omit in tests, which deliver events themselves);
 * read at delivery time, so a caller may set them on the same object after start.
 * @param {{ port?: number, webhookUrl?: string, webhookSecret?: string, prices?: Record<string, number> }} [opts]
 */
export async function startStripeStandIn(opts = {}) {
  const customers = new Map();
  const sessions = new Map();
  const subscriptions = new Map();
  /** Every event the stand-in produced, oldest first. */
  const events = [];
  const signer = new Stripe("sk_test_standin_signer");
  let base = "";

  function event(type, object) {
    const ev = { id: id("evt"), object: "event", api_version: API_VERSION, created: sec(), type, livemode: false, pending_webhooks: 1, request: { id: null, idempotency_key: null }, data: { object: structuredClone(object) } };
    events.push(ev);
    return ev;
  }

  async function deliver(evs) {
    if (!opts.webhookUrl || !opts.webhookSecret) return;
    for (const ev of evs) {
      const payload = JSON.stringify(ev);
      const header = signer.webhooks.generateTestHeaderString({ payload, secret: opts.webhookSecret });
      try {
        const r = await fetch(opts.webhookUrl, { method: "POST", headers: { "content-type": "application/json", "stripe-signature": header }, body: payload });
        if (!r.ok) console.error(`[stripe stand-in] webhook ${ev.type} answered ${r.status}: ${await r.text()}`);
      } catch (e) {
        console.error(`[stripe stand-in] webhook ${ev.type} failed: ${e instanceof Error ? e.message : e}`);
      }
    }
  }

  function price(priceId) {
    return { id: priceId, object: "price", active: true, currency: "usd", unit_amount: opts.prices?.[priceId] ?? 4900, recurring: { interval: "month", interval_count: 1 }, type: "recurring" };
  }

  function newSubscription(customer, priceId, metadata) {
    const now = sec();
    const sub = {
      id: id("sub"), object: "subscription", customer, status: "active", created: now, start_date: now, billing_cycle_anchor: now,
      cancel_at_period_end: false, cancel_at: null, canceled_at: null, ended_at: null, currency: "usd", livemode: false, metadata: metadata ?? {},
      items: { object: "list", has_more: false, url: "/v1/subscription_items", data: [] },
      latest_invoice: null,
    };
    sub.items.data.push({ id: id("si"), object: "subscription_item", subscription: sub.id, quantity: 1, price: price(priceId), created: now, current_period_start: now, current_period_end: now + 30 * DAY, metadata: {} });
    subscriptions.set(sub.id, sub);
    return sub;
  }

  function invoice(sub, status) {
    const item = sub.items.data[0];
    return {
      id: id("in"), object: "invoice", customer: sub.customer, status, currency: "usd", amount_paid: status === "paid" ? item.price.unit_amount : 0,
      amount_due: item.price.unit_amount, created: sec(), period_start: item.current_period_start, period_end: item.current_period_end,
      parent: { type: "subscription_details", subscription_details: { subscription: sub.id, metadata: sub.metadata } },
    };
  }

  function completeCheckout(session) {
    if (session.status === "complete") return [];
    session.status = "complete";
    session.payment_status = "paid";
    if (session.mode === "payment") return [event("checkout.session.completed", publicSession(session))];
    const sub = newSubscription(session.customer, session.line_items_price, session.subscription_metadata);
    session.subscription = sub.id;
    const inv = invoice(sub, "paid");
    sub.latest_invoice = inv.id;
    return [event("checkout.session.completed", publicSession(session)), event("customer.subscription.created", sub), event("invoice.paid", inv)];
  }

  const publicSession = ({ line_items_price: _p, subscription_metadata: _m, ...s }) => s;

  async function handleApi(req, res, url, body) {
    const parts = url.pathname.split("/").filter(Boolean); // ["v1", …]
    const m = req.method;
    if (parts[1] === "customers") {
      if (m === "POST" && parts.length === 2) {
        const c = { id: id("cus"), object: "customer", email: body.email ?? null, name: body.name ?? null, metadata: body.metadata ?? {}, created: sec(), livemode: false };
        customers.set(c.id, c);
        return send(res, 200, c);
      }
      if (m === "GET" && parts.length === 3) {
        const c = customers.get(parts[2]);
        return c ? send(res, 200, c) : stripeError(res, 404, "invalid_request_error", `No such customer: '${parts[2]}'`, "id");
      }
    }
    if (parts[1] === "checkout" && parts[2] === "sessions") {
      if (m === "POST" && parts.length === 3) {
        if (!["subscription", "payment", "setup"].includes(body.mode)) return stripeError(res, 400, "invalid_request_error", "Missing required param: mode.", "mode");
        if (!body.success_url) return stripeError(res, 400, "invalid_request_error", "Missing required param: success_url.", "success_url");
        if (body.customer && !customers.has(body.customer)) return stripeError(res, 400, "invalid_request_error", `No such customer: '${body.customer}'`, "customer");
        const priceId = body.line_items?.[0]?.price;
        if (body.mode === "subscription" && !priceId) return stripeError(res, 400, "invalid_request_error", "Missing required param: line_items[0][price].", "line_items");
        // Payment mode (credit top-ups): ad-hoc `price_data` lines in USD; the total is what the customer pays.
        let amountTotal = null;
        if (body.mode === "payment") {
          const lines = body.line_items ?? [];
          if (!lines.length || lines.some((l) => l.price_data?.currency !== "usd" || !/^\d+$/.test(l.price_data?.unit_amount ?? ""))) {
            return stripeError(res, 400, "invalid_request_error", "Each line item needs price_data with currency usd and an integer unit_amount.", "line_items");
          }
          amountTotal = lines.reduce((sum, l) => sum + Number(l.price_data.unit_amount) * Number(l.quantity ?? 1), 0);
        }
        const s = {
          id: id("cs_test"), object: "checkout.session", mode: body.mode, status: "open", payment_status: "unpaid", customer: body.customer ?? null,
          client_reference_id: body.client_reference_id ?? null, success_url: body.success_url, cancel_url: body.cancel_url ?? null, metadata: body.metadata ?? {},
          subscription: null, created: sec(), expires_at: sec() + DAY, livemode: false, url: "", currency: "usd",
          amount_subtotal: amountTotal, amount_total: amountTotal, payment_intent: body.mode === "payment" ? id("pi") : null,
          line_items_price: priceId, subscription_metadata: body.subscription_data?.metadata ?? {},
        };
        s.url = `${base}/checkout/pay/${s.id}`;
        sessions.set(s.id, s);
        return send(res, 200, publicSession(s));
      }
      if (m === "GET" && parts.length === 4) {
        const s = sessions.get(parts[3]);
        return s ? send(res, 200, publicSession(s)) : stripeError(res, 404, "invalid_request_error", `No such checkout.session: '${parts[3]}'`, "id");
      }
    }
    if (parts[1] === "billing_portal" && parts[2] === "sessions" && m === "POST") {
      if (!body.customer || !customers.has(body.customer)) return stripeError(res, 400, "invalid_request_error", `No such customer: '${body.customer ?? ""}'`, "customer");
      const p = { id: id("bps"), object: "billing_portal.session", customer: body.customer, return_url: body.return_url ?? null, created: sec(), livemode: false, url: "" };
      p.url = `${base}/portal/${p.id}?return_url=${encodeURIComponent(p.return_url ?? "")}`;
      return send(res, 200, p);
    }
    if (parts[1] === "subscriptions" && parts.length === 3) {
      const sub = subscriptions.get(parts[2]);
      if (!sub) return stripeError(res, 404, "invalid_request_error", `No such subscription: '${parts[2]}'`, "id");
      if (m === "GET") return send(res, 200, sub);
      if (sub.status === "canceled") return stripeError(res, 400, "invalid_request_error", "A canceled subscription can only update its cancellation_details and metadata.");
      if (m === "DELETE") {
        sub.status = "canceled";
        sub.canceled_at = sub.ended_at = sec();
        const ev = event("customer.subscription.deleted", sub);
        await deliver([ev]);
        return send(res, 200, sub);
      }
      if (m === "POST") {
        if (body.cancel_at_period_end !== undefined) {
          sub.cancel_at_period_end = body.cancel_at_period_end === "true";
          sub.cancel_at = sub.cancel_at_period_end ? sub.items.data[0].current_period_end : null;
          sub.canceled_at = sub.cancel_at_period_end ? sec() : null;
        }
        for (const it of body.items ?? []) {
          const item = sub.items.data.find((i) => i.id === it.id) ?? sub.items.data[0];
          if (it.price) item.price = price(it.price);
        }
        if (body.metadata) sub.metadata = { ...sub.metadata, ...body.metadata };
        const ev = event("customer.subscription.updated", sub);
        await deliver([ev]);
        return send(res, 200, sub);
      }
    }
    return stripeError(res, 404, "invalid_request_error", `Unrecognized request URL (${m}: ${url.pathname}).`);
  }

  const server = createServer((req, res) => {
    let raw = "";
    req.on("data", (c) => (raw += c));
    req.on("end", async () => {
      try {
        const url = new URL(req.url ?? "/", "http://standin");
        if (url.pathname.startsWith("/v1/")) {
          if (!/^Bearer sk_(test|live)_\S+$/.test(req.headers.authorization ?? "")) {
            return stripeError(res, 401, "invalid_request_error", "Invalid API Key provided.");
          }
          return await handleApi(req, res, url, decodeForm(raw));
        }
        const pay = /^\/checkout\/pay\/([\w-]+)$/.exec(url.pathname);
        if (pay) {
          const s = sessions.get(pay[1]);
          if (!s) return send(res, 404, { error: "no such session" });
          if (req.method === "GET") {
            res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
            return res.end(`<!doctype html><title>Stripe stand-in checkout</title><main style="font-family:sans-serif;max-width:30rem;margin:4rem auto">
<h1>Test checkout</h1><p>Local Stripe stand-in: no card is charged. ${s.mode === "payment" ? `Total <strong id="total">$${(s.amount_total / 100).toFixed(2)}</strong>` : `Price <code>${s.line_items_price ?? ""}</code>`}.</p>
<form method="post"><button type="submit" id="pay">${s.mode === "payment" ? "Pay" : "Pay and subscribe"}</button></form>
<p><a href="${s.cancel_url ?? "/"}">Cancel</a></p></main>`);
          }
          await deliver(completeCheckout(s));
          res.writeHead(303, { location: s.success_url.replace("{CHECKOUT_SESSION_ID}", s.id) });
          return res.end();
        }
        const portal = /^\/portal\/([\w-]+)$/.exec(url.pathname);
        if (portal && req.method === "GET") {
          res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
          return res.end(`<!doctype html><title>Stripe stand-in portal</title><main style="font-family:sans-serif;max-width:30rem;margin:4rem auto"><h1>Billing portal (stand-in)</h1>
<p>Invoices and payment methods live here on real Stripe.</p><p><a href="${url.searchParams.get("return_url") ?? "/"}">Return</a></p></main>`);
        }
        const done = /^\/_test\/checkout\/([\w-]+)\/complete$/.exec(url.pathname);
        if (done && req.method === "POST") {
          const s = sessions.get(done[1]);
          if (!s) return send(res, 404, { error: "no such session" });
          return send(res, 200, { events: completeCheckout(s) });
        }
        const renew = /^\/_test\/subscriptions\/([\w-]+)\/(fail_payment|pay)$/.exec(url.pathname);
        if (renew && req.method === "POST") {
          const sub = subscriptions.get(renew[1]);
          if (!sub) return send(res, 404, { error: "no such subscription" });
          const ok = renew[2] === "pay";
          sub.status = ok ? "active" : "past_due";
          const evs = [event(ok ? "invoice.paid" : "invoice.payment_failed", invoice(sub, ok ? "paid" : "open")), event("customer.subscription.updated", sub)];
          await deliver(evs);
          return send(res, 200, { events: evs });
        }
        if (url.pathname === "/_test/events" && req.method === "GET") {
          const customer = url.searchParams.get("customer");
          return send(res, 200, { events: events.filter((e) => !customer || e.data.object.customer === customer) });
        }
        return send(res, 404, { error: "not found" });
      } catch (e) {
        stripeError(res, 500, "api_error", e instanceof Error ? e.message : String(e));
      }
    });
  });
  await new Promise((resolve) => server.listen(opts.port ?? 0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${server.address().port}`;
  return { name: "stripe", url: base, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
