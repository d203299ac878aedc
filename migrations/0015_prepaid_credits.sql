CREATE TABLE `credit_grants` (
	`id` text PRIMARY KEY NOT NULL,
	`org_id` text NOT NULL,
	`kind` text NOT NULL,
	`amount_micros` integer NOT NULL,
	`ref` text NOT NULL,
	`created_at` integer DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)) NOT NULL,
	FOREIGN KEY (`org_id`) REFERENCES `orgs`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `credit_grants_ref_uq` ON `credit_grants` (`ref`);--> statement-breakpoint
CREATE INDEX `credit_grants_org_idx` ON `credit_grants` (`org_id`,`created_at`);--> statement-breakpoint
CREATE TABLE `signup_credit_claims` (
	`email_hash` text PRIMARY KEY NOT NULL,
	`granted_at` integer DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)) NOT NULL
);
