/** Response shapes of the Tollgate control plane (docs/resources.md), as the dashboard reads them. */
export type Role = "owner" | "admin" | "member" | "viewer";
export type Page<T> = { data: T[]; next_cursor: string | null };

export type OrgSummary = { id: string; name: string; slug: string; kind: "personal" | "team"; plan: string };
export type Org = OrgSummary & { role: Role; created_at: string; updated_at: string };
export type User = { id: string; email: string; name: string; email_verified: boolean; created_at: string };
/** `org_mode: "single"`: one organization per user, so no org switcher and no org creation. */
export type Me = { user: User; memberships: Array<{ org: OrgSummary; role: Role }>; org_mode: "single" | "multi" };

export type Member = { user_id: string; email: string; name: string; role: Role; joined_at: string; teams: Array<{ id: string; name: string }> };
export type KeySummary = { id: string; name: string; hint: string; team_id: string | null; created_at: string };
export type RemovalPreview = { member: Member; can_remove: boolean; reason: string | null; keys_to_revoke: KeySummary[] };

export type Invitation = {
  id: string; email: string; role: Exclude<Role, "owner">; team_ids: string[]; status: "pending" | "accepted" | "revoked" | "expired";
  invited_by: string; expires_at: string; created_at: string; last_sent_at: string; send_count: number;
};
export type InvitationPreview = { org: { id: string; name: string; slug: string }; role: Exclude<Role, "owner">; email: string; invited_by: string; expires_at: string; status: "pending" };

export type KeyBudget = { id: string; limit_usd: string | null; limit_micros: number | null; period: string; mode: string };
export type VirtualKey = {
  id: string; name: string; hint: string; status: "active" | "revoked" | "expired"; team_id: string | null; created_by: string;
  allowed_models: string[] | null; rpm: number | null; tpm: number | null; expires_at: string | null; revoked_at: string | null;
  created_at: string; updated_at: string; budgets?: KeyBudget[];
};
export type CreatedKey = VirtualKey & { key: string };

export type Team = {
  id: string; name: string; description: string | null; members_manage_budgets: boolean; member_count: number; created_at: string; updated_at: string;
};
export type TeamMember = { user_id: string; email: string; name: string; role: Role; added_at: string };
export type TeamDetail = Team & { members: TeamMember[] };

export type ProviderType = "openai" | "anthropic" | "openai_compatible" | "gemini";
export type Provider = { id: string; name: string; type: ProviderType; base_url: string; api_key_hint: string; is_default: boolean; created_at: string; updated_at: string };
export type ModelPrice = {
  model: string; source: "catalog" | "override"; provider: string | null; input_usd: string; output_usd: string;
  cached_input_usd: string | null; max_output_tokens: number | null; catalog: { input_usd: string; output_usd: string } | null;
};

export type BudgetScope = "org" | "team" | "key" | "customer" | "tag" | "member";
export type BudgetPeriod = "daily" | "weekly" | "monthly" | "total";
export type Budget = {
  id: string; scope: BudgetScope; scope_id: string | null; team_id: string | null; limit_micros: number | null; limit_usd: string | null; period: BudgetPeriod;
  mode: "hard" | "soft"; rpm: number | null; tpm: number | null; alert_thresholds: number[];
  velocity: { limit_micros: number; limit_usd: string; window_seconds: number; cooldown_seconds: number } | null;
  created_by: string; created_at: string; updated_at: string;
};
export type BudgetStatus = {
  budget_id: string; spent_micros: number; reserved_micros: number; limit_micros: number | null; spent_usd: string; limit_usd: string | null;
  period_start: string; resets_at: string | null; instances: number; breaker: { tripped: boolean; tripped_until: string | null };
};

export type UsageGroupBy = "day" | "model" | "key" | "team" | "customer" | "tag" | "prompt" | "guardrail";
/** A prompt as `GET …/prompts` lists it (the fields the Usage page needs). */
export type PromptSummary = { id: string; name: string };
export type Aggregate = {
  requests: number; errors: number; input_tokens: number; output_tokens: number; cached_input_tokens: number; cost_micros: number; cost_usd: string;
  avg_latency_ms: number | null; p50_latency_ms: number | null; p95_latency_ms: number | null;
};
export type Usage = { from: string; to: string; group_by: UsageGroupBy | null; totals: Aggregate; groups: Array<Aggregate & { key: string | null }> };
export type CostEvent = {
  request_id: string; key_id: string; team_id: string | null; customer_id: string | null; trace_id: string | null; tags: Record<string, string>;
  model: string; provider: string; endpoint: string; status: number; input_tokens: number; output_tokens: number; cached_input_tokens: number;
  cost_micros: number; cost_usd: string; latency_ms: number; estimated: boolean; created_at: string;
};
/** What one trace (one agent run) cost (`GET …/traces/:traceId`). */
export type TraceTotal = {
  trace_id: string; requests: number; errors: number; input_tokens: number; output_tokens: number; cost_micros: number; cost_usd: string; first_at: string; last_at: string;
};
/** A management token as listed (never the secret). */
export type ManagementToken = {
  id: string; name: string; role: Exclude<Role, "owner">; hint: string; created_by: string; root_user_id: string | null;
  created_at: string; expires_at: string | null; revoked_at: string | null; last_used_at: string | null;
};
export type CreatedManagementToken = ManagementToken & { token: string };

export type AuditEntry = {
  id: string; actor: { type: "user" | "management_token" | "system"; id: string; email: string | null }; ip: string | null; user_agent: string | null;
  action: string; target: { type: string; id: string | null }; before: unknown; after: unknown; created_at: string;
};

export type OrgBranding = { display_name: string | null; logo_url: string | null; accent_color: string | null };

export type OrgSettings = {
  name: string; slug: string; kind: "personal" | "team"; branding: OrgBranding;
  data_policy: { store_request_metadata: boolean }; invitation_expiry_days: number;
  alert_emails: string[];
  /** Masked (host and last 4 characters): the URL is a credential. */
  slack_webhook_url: string | null; slack_webhook_configured: boolean;
  /** Set when Tollgate disabled the Slack channel for failing; saving the URL again re-enables it. */
  slack_disabled_reason: string | null; slack_disabled_at: string | null;
};

export type OutboxEmail = { id: string; to: string; subject: string; text: string; html: string | null; transport: string; status: string; error: string | null; created_at: string };

export type Webhook = {
  id: string; url: string; description: string | null; events: string[]; enabled: boolean; created_at: string; updated_at: string;
  /** Why Tollgate disabled it (null when enabled, or disabled by an admin). */
  disabled_reason: string | null; disabled_at: string | null;
  /** Start of the current run of failed attempts (3 days of it disables the endpoint). */
  failing_since: string | null;
};
export type WebhookWithSecret = Webhook & { secret: string };
export type WebhookAttempt = { attempt: number; status_code: number | null; error: string | null; latency_ms: number; response_excerpt: string | null; created_at: string };
export type WebhookDelivery = {
  id: string; event_id: string; event_type: string; status: "pending" | "succeeded" | "failed"; attempts: number; next_attempt_at: string | null;
  last_status_code: number | null; payload: string; created_at: string; updated_at: string; attempt_log: WebhookAttempt[];
};
