DROP INDEX `audit_at`;--> statement-breakpoint
DROP INDEX `audit_host_user_at`;--> statement-breakpoint
CREATE INDEX `audit_host_user_at` ON `audit_events` (`host`,`user`,`at`) WHERE user <> '';