ALTER TABLE `accounts` ADD `totp_secret` text;--> statement-breakpoint
ALTER TABLE `accounts` ADD `totp_last_step` integer;--> statement-breakpoint
CREATE INDEX `accounts_host_created` ON `accounts` (`host`,`created_at`);--> statement-breakpoint
ALTER TABLE `sessions` ADD `second_factor_at` integer;--> statement-breakpoint
CREATE INDEX `invites_host_open` ON `invites` (`host`,`expires_at`) WHERE revoked_at IS NULL;