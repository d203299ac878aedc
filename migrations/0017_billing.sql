CREATE TABLE `stripe_events` (
	`id` text PRIMARY KEY NOT NULL,
	`type` text NOT NULL,
	`org_id` text,
	`received_at` integer DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)) NOT NULL
);
--> statement-breakpoint
ALTER TABLE `orgs` ADD `subscription_status` text;--> statement-breakpoint
ALTER TABLE `orgs` ADD `subscription_plan` text;--> statement-breakpoint
ALTER TABLE `orgs` ADD `subscription_version` text;--> statement-breakpoint
ALTER TABLE `orgs` ADD `current_period_end` integer;--> statement-breakpoint
ALTER TABLE `orgs` ADD `cancel_at_period_end` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `orgs` ADD `payment_failed_at` integer;