CREATE TABLE `accounts` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`host` text NOT NULL,
	`username` text NOT NULL,
	`password_hash` text,
	`roles` text DEFAULT '[]' NOT NULL,
	`groups` text DEFAULT '[]' NOT NULL,
	`created_at` integer NOT NULL,
	`invite_id` text,
	`invited_by` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `accounts_host_username` ON `accounts` (`host`,`username`);--> statement-breakpoint
CREATE TABLE `audit_events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`at` integer NOT NULL,
	`host` text DEFAULT '' NOT NULL,
	`user` text DEFAULT '' NOT NULL,
	`source` text NOT NULL,
	`type` text NOT NULL,
	`actor` text,
	`ip` text,
	`country_code` text,
	`country_name` text,
	`continent` text,
	`user_agent` text,
	`details` text DEFAULT '{}' NOT NULL
);
--> statement-breakpoint
CREATE INDEX `audit_host_at` ON `audit_events` (`host`,`at`);--> statement-breakpoint
CREATE INDEX `audit_host_user_at` ON `audit_events` (`host`,`user`,`at`);--> statement-breakpoint
CREATE INDEX `audit_at` ON `audit_events` (`at`);--> statement-breakpoint
CREATE TABLE `redemptions` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`invite_id` text NOT NULL,
	`host` text NOT NULL,
	`username` text NOT NULL,
	`kind` text NOT NULL,
	`used_at` integer NOT NULL,
	`invite_created_by` text NOT NULL,
	`source` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `redemptions_invite` ON `redemptions` (`invite_id`);--> statement-breakpoint
CREATE INDEX `redemptions_host_user` ON `redemptions` (`host`,`username`);