CREATE INDEX `accounts_host_created` ON `accounts` (`host`,`created_at`);--> statement-breakpoint
CREATE INDEX `invites_host_open` ON `invites` (`host`,`expires_at`) WHERE revoked_at IS NULL;