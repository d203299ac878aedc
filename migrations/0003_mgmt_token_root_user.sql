ALTER TABLE `management_tokens` ADD `root_user_id` text;--> statement-breakpoint
CREATE INDEX `management_tokens_root_idx` ON `management_tokens` (`org_id`,`root_user_id`);--> statement-breakpoint
-- Backfill: follow created_by from each token up the chain of tokens to the user at its root.
WITH RECURSIVE chain(id, root) AS (
  SELECT t.id, t.created_by FROM management_tokens t WHERE t.created_by IN (SELECT id FROM users)
  UNION ALL
  SELECT t.id, chain.root FROM management_tokens t JOIN chain ON t.created_by = chain.id
)
UPDATE management_tokens SET root_user_id = (SELECT root FROM chain WHERE chain.id = management_tokens.id) WHERE root_user_id IS NULL;
