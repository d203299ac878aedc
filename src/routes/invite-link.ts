/**
 * `GET /invite/:token`: the link in invitation emails, served by the Worker (mounted at the root, not /api).
 * Until the dashboard has its own page this answers a small self-contained HTML accept page; with
 * `DASHBOARD_ACCEPT_REDIRECT=true` it redirects to the dashboard's `/accept-invite?token=…` instead.
 */
import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { getDb } from "../db/client";
import type { Env } from "../env";
import { validationHook } from "../errors";
import { randomBase62 } from "../lib/encoding";
import { publicRoute } from "../lib/route";
import { findInvitationByToken, maskEmail, unusableMessage, type TokenInvitation } from "../services/invitation-lookup";

/** Optional var (not in the validated config yet): "true" hands the link to the dashboard's accept page. */

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch]!);
}

const STYLE = `body{font:16px/1.5 system-ui,sans-serif;background:#f6f7f9;color:#1c2330;margin:0}
main{max-width:28rem;margin:12vh auto;background:#fff;border-radius:12px;padding:2rem;box-shadow:0 1px 3px #0002}
h1{font-size:1.35rem;margin:0 0 1rem}button{font:inherit;background:#2b59c3;color:#fff;border:0;border-radius:8px;padding:.6rem 1.2rem;cursor:pointer}
button[disabled]{opacity:.6}.muted{color:#5b6475;font-size:.9rem}#msg{margin-top:1rem}a{color:#2b59c3}`;

function page(nonce: string, title: string, body: string, script = ""): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex"><title>${esc(title)} · Tollgate</title><style nonce="${nonce}">${STYLE}</style></head>
<body><main>${body}</main>${script ? `<script nonce="${nonce}">${script}</script>` : ""}</body></html>`;
}

function acceptPage(nonce: string, appUrl: string, token: string, found: TokenInvitation): string {
  const next = encodeURIComponent(`/invite/${token}`);
  const body = `<h1>Join ${esc(found.org.name)} on Tollgate</h1>
<p>${esc(found.inviterName)} invited <strong>${esc(maskEmail(found.inv.email))}</strong> to join as <strong>${esc(found.inv.role)}</strong>.</p>
<p class="muted">The invitation expires ${esc(new Date(found.inv.expiresAt).toUTCString())}.</p>
<button id="accept" type="button">Accept invitation</button>
<p id="msg" role="status"></p>
<p class="muted">Not signed in? <a href="${esc(appUrl)}/login?next=${next}">Sign in</a> or <a href="${esc(appUrl)}/signup?next=${next}">create an account</a> with the invited email address, then come back to this link.</p>`;
  const script = `document.getElementById("accept").addEventListener("click", async (ev) => {
  const btn = ev.currentTarget, msg = document.getElementById("msg");
  btn.disabled = true; msg.textContent = "Joining…";
  try {
    const res = await fetch(${JSON.stringify(`/api/invitations/${token}/accept`)}, { method: "POST", credentials: "same-origin", headers: { accept: "application/json" } });
    const body = await res.json().catch(() => ({}));
    if (res.ok) { msg.textContent = "You joined " + body.org.name + ". "; const a = document.createElement("a"); a.href = ${JSON.stringify(`${appUrl}/`)}; a.textContent = "Open the dashboard"; msg.append(a); btn.remove(); return; }
    msg.textContent = res.status === 401 ? "Sign in (or create an account) with the invited email address first." : (body.error && body.error.message) || "Could not accept the invitation.";
  } catch { msg.textContent = "Network error; try again."; }
  btn.disabled = false;
});`;
  return page(nonce, `Join ${found.org.name}`, body, script);
}

export const inviteLinkRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook }).openapi(
  publicRoute({
    method: "get",
    path: "/invite/{token}",
    tags: ["invitations"],
    summary: "The invitation link: an HTML accept page (or a redirect to the dashboard's accept page)",
    request: { params: z.object({ token: z.string().max(64).openapi({ param: { name: "token", in: "path" } }) }) },
    responses: {
      200: { description: "Accept page", content: { "text/html": { schema: z.string() } } },
      302: { description: "Redirect to the dashboard's accept page" },
      404: { description: "Unknown token", content: { "text/html": { schema: z.string() } } },
      410: { description: "Used, expired or revoked", content: { "text/html": { schema: z.string() } } },
    },
  }),
  async (c) => {
    const { token } = c.req.valid("param");
    const appUrl = c.var.config.APP_URL.replace(/\/+$/, "");
    // The token is in the URL: never leak it through Referer, caches or frames.
    c.header("Referrer-Policy", "no-referrer");
    c.header("Cache-Control", "no-store");
    if (c.var.config.DASHBOARD_ACCEPT_REDIRECT) return c.redirect(`${appUrl}/accept-invite?token=${encodeURIComponent(token)}`, 302);
    const nonce = randomBase62(22);
    c.header("Content-Security-Policy", `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'`);
    c.header("X-Frame-Options", "DENY");
    const found = await findInvitationByToken(getDb(c.env.DB), token);
    if (!found) return c.html(page(nonce, "Invitation not found", `<h1>Invitation not found</h1><p>Check that you opened the whole link from your email.</p>`), 404);
    if (found.status !== "pending") {
      return c.html(page(nonce, "Invitation unavailable", `<h1>This invitation can't be used</h1><p>${esc(unusableMessage(found.status))}.</p>`), 410);
    }
    return c.html(acceptPage(nonce, appUrl, token, found), 200);
  },
);
