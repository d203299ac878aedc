/**
 * Slack Block Kit messages for the org's Slack incoming webhook (docs/webhooks.md, "Slack"). Rendered at
 * send time from the same event envelope webhook endpoints get: the budget's scope, spend, limit, when
 * its period resets, and a button to the org's budgets page.
 */
import { findBudget } from "../db/budgets";
import type { Db } from "../db/client";
import { findOrg } from "../db/orgs";
import { periodBounds } from "../durable-objects/gate-budgets";
import { formatUsdLabel } from "../lib/usd";

type Envelope = { id: string; type: string; org_id: string; data: Record<string, unknown> };

/** Slack mrkdwn treats `&`, `<` and `>` as control characters; user-chosen names must not inject links or mentions. */
export function slackEscape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

const utc = (ms: number) => `${new Date(ms).toISOString().slice(0, 16).replace("T", " ")} UTC`;

function headline(type: string, threshold: unknown): string {
  switch (type) {
    case "budget.threshold":
      return `Budget ${String(threshold)}% used`;
    case "budget.exceeded":
      return "Budget exceeded";
    case "velocity.tripped":
      return "Spend velocity breaker tripped";
    default:
      return "Tollgate test message";
  }
}

/** The JSON body posted to Slack for one delivery payload (an envelope as stored in `webhook_deliveries`). */
export async function slackMessage(db: Db, appUrl: string, payload: string): Promise<string> {
  const e = JSON.parse(payload) as Envelope;
  const org = await findOrg(db, e.org_id);
  const orgName = slackEscape(org?.settings?.branding?.display_name || org?.name || e.org_id);
  const budgetsUrl = `${appUrl.replace(/\/+$/, "")}/orgs/${encodeURIComponent(e.org_id)}/budgets`;
  if (e.type === "test.ping") {
    const text = `Test message from Tollgate: budget alerts for ${orgName} will be posted here.`;
    return JSON.stringify({ text, blocks: [{ type: "section", text: { type: "mrkdwn", text } }] });
  }
  const d = e.data;
  if (e.type === "credits.low") {
    const balance = typeof d.balance_micros === "number" ? formatUsdLabel(d.balance_micros) : "?";
    const threshold = typeof d.threshold_micros === "number" ? formatUsdLabel(d.threshold_micros) : "?";
    const title = `Prepaid balance low: ${orgName}`;
    const text = `${title}. ${balance} left (alert below ${threshold}); requests are refused with 402 once it is empty.`;
    return JSON.stringify({
      text: slackEscape(text),
      blocks: [
        { type: "header", text: { type: "plain_text", text: title.slice(0, 150) } },
        { type: "section", fields: [{ type: "mrkdwn", text: `*Balance*\n${balance}` }, { type: "mrkdwn", text: `*Alert below*\n${threshold}` }] },
        { type: "actions", elements: [{ type: "button", text: { type: "plain_text", text: "Open credits" }, url: `${appUrl.replace(/\/+$/, "")}/orgs/${encodeURIComponent(e.org_id)}/credits` }] },
        { type: "context", elements: [{ type: "mrkdwn", text: `Event ${slackEscape(e.id)}` }] },
      ],
    });
  }
  const budget = typeof d.budget_id === "string" ? await findBudget(db, e.org_id, d.budget_id) : undefined;
  const scope = `${String(d.scope ?? budget?.scope ?? "budget")}${d.scope_id ? ` ${String(d.scope_id)}` : ""}`;
  const spent = typeof d.spent_micros === "number" ? formatUsdLabel(d.spent_micros) : "?";
  const limit = typeof d.limit_micros === "number" ? formatUsdLabel(d.limit_micros) : "no limit";
  let resets = "never (total budget)";
  if (e.type === "velocity.tripped") resets = "after the breaker's cool-down";
  else if (budget && budget.period !== "total" && typeof d.period_start === "string") {
    const end = periodBounds(budget.period, Date.parse(d.period_start), org?.billingAnchor ?? null).end;
    if (end !== null) resets = utc(end);
  }
  const title = `${headline(e.type, d.threshold)}: ${orgName}`;
  const text = `${title}. ${scope}: ${spent} of ${limit}.`;
  return JSON.stringify({
    text: slackEscape(text),
    blocks: [
      { type: "header", text: { type: "plain_text", text: title.slice(0, 150) } },
      {
        type: "section",
        fields: [
          { type: "mrkdwn", text: `*Scope*\n${slackEscape(scope)}` },
          { type: "mrkdwn", text: `*${e.type === "velocity.tripped" ? "Spend in window" : "Spend"}*\n${spent}` },
          { type: "mrkdwn", text: `*Limit*\n${limit}` },
          { type: "mrkdwn", text: `*Resets*\n${resets}` },
        ],
      },
      { type: "actions", elements: [{ type: "button", text: { type: "plain_text", text: "Open budgets" }, url: budgetsUrl }] },
      { type: "context", elements: [{ type: "mrkdwn", text: `Event ${slackEscape(e.id)}` }] },
    ],
  });
}
