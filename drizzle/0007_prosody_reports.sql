CREATE TABLE `prosody_reports` (
	`host` text PRIMARY KEY NOT NULL,
	`reported_at` integer NOT NULL,
	`prosody_version` text,
	`module_version` text
);
