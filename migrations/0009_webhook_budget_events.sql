-- Custom SQL migration file, put your code below! --
-- Budget events → webhook deliveries, in the same D1 write (docs/webhooks.md, "Exactly once").
-- The OrgGate flushes each budget event to D1 with INSERT … ON CONFLICT DO NOTHING, so this trigger
-- fires once per event however often a flush is repeated; it queues one delivery per enabled endpoint
-- subscribed to the event's type (and the unique (webhook_id, event_id) index would absorb a repeat).
-- The payload is the same envelope as src/services/webhook-events.ts `envelope()`; keep them in step.
CREATE TRIGGER budget_events_webhooks
AFTER INSERT ON budget_events
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
