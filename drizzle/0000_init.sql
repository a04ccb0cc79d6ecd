CREATE TABLE `invites` (
	`id` text PRIMARY KEY NOT NULL,
	`host` text NOT NULL,
	`kind` text NOT NULL,
	`token_hash` text NOT NULL,
	`username` text,
	`groups` text DEFAULT '[]' NOT NULL,
	`roles` text DEFAULT '[]' NOT NULL,
	`note` text,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	`max_uses` integer,
	`uses` integer DEFAULT 0 NOT NULL,
	`reserved` integer DEFAULT 0 NOT NULL,
	`revoked_at` integer,
	`created_by` text NOT NULL,
	`data` text DEFAULT '{}' NOT NULL
);
--> statement-breakpoint
CREATE INDEX `invites_host_created` ON `invites` (`host`,`created_at`);--> statement-breakpoint
CREATE TABLE `api_keys` (
	`id` text PRIMARY KEY NOT NULL,
	`host` text NOT NULL,
	`name` text,
	`token_hash` text NOT NULL,
	`prev_token_hash` text,
	`prev_expires_at` integer,
	`scopes` text DEFAULT '["invite:create"]' NOT NULL,
	`expires_at` integer,
	`max_ttl` integer,
	`max_uses` integer,
	`rate` text,
	`disabled` integer DEFAULT 0 NOT NULL,
	`created_at` integer NOT NULL,
	`last_used_at` integer,
	`last_used_ip` text
);
--> statement-breakpoint
CREATE INDEX `api_keys_host` ON `api_keys` (`host`);