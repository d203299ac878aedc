ALTER TABLE `budgets` ADD `team_id` text;--> statement-breakpoint
ALTER TABLE `budgets` ADD `created_by_role` text;--> statement-breakpoint
ALTER TABLE `teams` ADD `members_manage_budgets` integer DEFAULT false NOT NULL;