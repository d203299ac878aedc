-- Orgs that saved a Slack URL before Slack alerts were sent get their Slack channel row now.
INSERT INTO `webhooks` (`id`, `org_id`, `kind`, `url`, `description`, `events`, `secret_sealed`, `enabled`, `created_by`)
SELECT 'whk_' || lower(hex(randomblob(8))), `id`, 'slack', json_extract(`settings`, '$.slack_webhook_url'), 'Slack alerts',
  '["budget.threshold","budget.exceeded","velocity.tripped"]', '', 1, 'system'
FROM `orgs`
WHERE json_extract(`settings`, '$.slack_webhook_url') IS NOT NULL AND json_extract(`settings`, '$.slack_webhook_url') <> '';
