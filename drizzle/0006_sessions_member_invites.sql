CREATE TABLE `sessions` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`id_hash` text NOT NULL,
	`host` text NOT NULL,
	`username` text NOT NULL,
	`created_at` integer NOT NULL,
	`last_seen_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	`created_ip` text,
	`created_country` text,
	`created_city` text,
	`last_ip` text,
	`last_country` text,
	`last_city` text,
	`user_agent` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `sessions_id_hash` ON `sessions` (`id_hash`);--> statement-breakpoint
CREATE INDEX `sessions_account` ON `sessions` (`host`,`username`);--> statement-breakpoint
CREATE INDEX `sessions_expires` ON `sessions` (`expires_at`);--> statement-breakpoint
DROP INDEX `audit_noise_host_at`;--> statement-breakpoint
ALTER TABLE `audit_events` ADD `city` text;--> statement-breakpoint
CREATE INDEX `audit_noise_host_at` ON `audit_events` (`host`,`at`) WHERE type IN ('registration.refused', 'key.auth_failed', 'account.login_failed');--> statement-breakpoint
ALTER TABLE `accounts` ADD `disabled_at` integer;--> statement-breakpoint
CREATE INDEX `accounts_invited_by` ON `accounts` (`host`,`invited_by`);--> statement-breakpoint
CREATE INDEX `invites_member_created` ON `invites` (`created_by`,`created_at`) WHERE created_by LIKE 'account/%';