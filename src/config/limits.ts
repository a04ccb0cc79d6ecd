// `[limits]`.
import { Section, readRate } from "./section.ts";
import type { Rate } from "../limits/rate.ts";

export interface LimitsConfig {
  authFailures: number;
  authWindow: number;
  authFailureWindow: number;
  lockout: number;
  ipv4Prefix: number;
  ipv6Prefix: number;
  /** Registration attempts per client network; null: no throttle ("off"). */
  registrationRate: Rate | null;
  hashConcurrency: number;
  hashQueue: number;
  /** Sign-in attempts per client network; null: no throttle. */
  signinRate: Rate | null;
  /** Sign-in attempts per account (name@host, known or not); null: no throttle. */
  signinAccountRate: Rate | null;
}

/** `[limits]`: lockouts, throttles and the hash queue (docs/abuse-controls.md). */
export function readLimits(root: Section): LimitsConfig {
  const limits = root.table_("limits");
  const limitsCfg: LimitsConfig = {
    authFailures: limits.int("auth_failures", 10, 0, 1_000_000), // 0: no lockout
    authWindow: limits.duration("auth_window", "10m"),
    authFailureWindow: limits.duration("auth_failure_log_window", "60s"),
    lockout: limits.duration("lockout", "15m"),
    ipv4Prefix: limits.int("ipv4_prefix", 32, 0, 32),
    ipv6Prefix: limits.int("ipv6_prefix", 64, 0, 128),
    registrationRate: readRate(limits, "registration_rate", "5/hour"),
    hashConcurrency: limits.int("hash_concurrency", 2, 1, 64), // each argon2id hash holds 64 MiB
    hashQueue: limits.int("hash_queue", 64, 0, 100_000),
    signinRate: readRate(limits, "signin_rate", "10/min"),
    signinAccountRate: readRate(limits, "signin_account_rate", "10/hour"),
  };
  limits.done();

  return limitsCfg;
}
