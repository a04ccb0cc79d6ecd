ALTER TABLE `accounts` ADD `skeleton` text;--> statement-breakpoint
CREATE INDEX `accounts_skeleton` ON `accounts` (`skeleton`,`host`);--> statement-breakpoint
ALTER TABLE `invites` ADD `skeleton` text;--> statement-breakpoint
CREATE INDEX `invites_host_skeleton` ON `invites` (`host`,`skeleton`) WHERE skeleton IS NOT NULL;--> statement-breakpoint
CREATE INDEX `invites_skeleton_missing` ON `invites` (`id`) WHERE kind = 'account' AND username IS NOT NULL AND skeleton IS NULL;