/**
 * The one refusal for creating something above the org's plan (docs/billing.md "Limits and downgrades"):
 * 403 `plan_limit`, naming the limit, how much is used and the plan that lifts it. Existing resources
 * above a limit (after a downgrade) keep working; only new ones are refused.
 */
import { ApiError, type ErrorExtra } from "../errors";
import { planThatLifts, type Plan, type PlanLimitName } from "../plans";

const NOUN: Record<PlanLimitName, string> = { seats: "seats", keys: "active keys", budgets: "budgets", webhooks: "webhook endpoints", guardrails: "guardrails", prompts: "prompt templates" };

/** 403 `plan_limit` for `name` at `used` on `plan`; `hint` replaces the default "what to do" sentence. */
export function planLimitError(plan: Plan, name: PlanLimitName, used: number, opts: { hint?: string; extra?: ErrorExtra & { param?: string | null } } = {}): ApiError {
  const limit = plan[name];
  const lifts = planThatLifts(plan, name, used);
  const upgrade = lifts ? `upgrade to ${lifts.name}` : "contact us for a custom plan";
  const hint = opts.hint ?? `remove one or ${upgrade}; what exists keeps working`;
  return new ApiError("plan_limit", `The ${plan.name} plan allows ${limit} ${NOUN[name]} (${used} in use); ${hint}`, {
    limit_name: name, limit, used, plan: plan.id, upgrade_plan: lifts?.id ?? null, ...opts.extra,
  });
}
