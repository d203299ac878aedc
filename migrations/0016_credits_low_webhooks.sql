-- Custom SQL migration file, put your code below! --
-- Prepaid credits' low-balance alert (`budget_events.kind = 'credits_low'`, queued by the OrgGate) becomes the
-- webhook event `credits.low`; the budget trigger of 0009 is recreated to leave those rows alone (it would
-- otherwise map them to `velocity.tripped`). Same exactly-once rules as 0009.
DROP TRIGGER IF EXISTS budget_events_webhooks;
--> statement-breakpoint
CREATE TRIGGER budget_events_webhooks
AFTER INSERT ON budget_events
WHEN NEW.kind <> 'credits_low'
BEGIN
  INSERT OR IGNORE INTO webhook_deliveries (id, org_id, webhook_id, event_id, event_type, payload, status, attempts, next_attempt_at, created_at, updated_at)
  SELECT
    'whd_' || lower(hex(randomblob(8))),
    w.org_id,
    w.id,
    NEW.id,
    t.type,
    json_object(
      'id', NEW.id,
      'type', t.type,
      'api_version', '2026-12-01',
      'created_at', strftime('%Y-%m-%dT%H:%M:%fZ', NEW.created_at / 1000.0, 'unixepoch'),
      'org_id', NEW.org_id,
      'data', json_object(
        'budget_id', NEW.budget_id,
        'scope', (SELECT b.scope FROM budgets b WHERE b.id = NEW.budget_id),
        'scope_id', NEW.scope_id,
        'threshold', CASE WHEN NEW.kind = 'velocity_tripped' THEN NULL ELSE NEW.threshold END,
        'spent_micros', NEW.spent_micros,
        'limit_micros', NEW.limit_micros,
        'spent_usd', printf('%d.%06d', NEW.spent_micros / 1000000, NEW.spent_micros % 1000000),
        'limit_usd', CASE WHEN NEW.limit_micros IS NULL THEN NULL ELSE printf('%d.%06d', NEW.limit_micros / 1000000, NEW.limit_micros % 1000000) END,
        'period_start', strftime('%Y-%m-%dT%H:%M:%fZ', NEW.period_start / 1000.0, 'unixepoch')
      )
    ),
    'pending',
    0,
    CAST(unixepoch('subsec') * 1000 AS INTEGER),
    CAST(unixepoch('subsec') * 1000 AS INTEGER),
    CAST(unixepoch('subsec') * 1000 AS INTEGER)
  FROM (SELECT CASE NEW.kind WHEN 'threshold' THEN 'budget.threshold' WHEN 'exceeded' THEN 'budget.exceeded' ELSE 'velocity.tripped' END AS type) AS t
  JOIN webhooks w ON w.org_id = NEW.org_id AND w.enabled = 1 AND EXISTS (SELECT 1 FROM json_each(w.events) WHERE json_each.value = t.type);
END;
--> statement-breakpoint

-- Low prepaid balance (docs/billing.md#prepaid-credits): `credits.low`, once per crossing of the threshold.
CREATE TRIGGER budget_events_credits_low_webhooks
AFTER INSERT ON budget_events
WHEN NEW.kind = 'credits_low'
BEGIN
  INSERT OR IGNORE INTO webhook_deliveries (id, org_id, webhook_id, event_id, event_type, payload, status, attempts, next_attempt_at, created_at, updated_at)
  SELECT
    'whd_' || lower(hex(randomblob(8))),
    w.org_id,
    w.id,
    NEW.id,
    'credits.low',
    json_object(
      'id', NEW.id,
      'type', 'credits.low',
      'api_version', '2026-12-01',
      'created_at', strftime('%Y-%m-%dT%H:%M:%fZ', NEW.created_at / 1000.0, 'unixepoch'),
      'org_id', NEW.org_id,
      'data', json_object(
        'balance_micros', MAX(0, COALESCE(NEW.limit_micros, 0) - NEW.spent_micros),
        'threshold_micros', NEW.threshold,
        'granted_micros', NEW.limit_micros,
        'used_micros', NEW.spent_micros,
        'balance_usd', printf('%d.%06d', MAX(0, COALESCE(NEW.limit_micros, 0) - NEW.spent_micros) / 1000000, MAX(0, COALESCE(NEW.limit_micros, 0) - NEW.spent_micros) % 1000000),
        'crossed_at', strftime('%Y-%m-%dT%H:%M:%fZ', NEW.period_start / 1000.0, 'unixepoch')
      )
    ),
    'pending',
    0,
    CAST(unixepoch('subsec') * 1000 AS INTEGER),
    CAST(unixepoch('subsec') * 1000 AS INTEGER),
    CAST(unixepoch('subsec') * 1000 AS INTEGER)
  FROM webhooks w
  WHERE w.org_id = NEW.org_id AND w.enabled = 1 AND EXISTS (SELECT 1 FROM json_each(w.events) WHERE json_each.value = 'credits.low');
END;
