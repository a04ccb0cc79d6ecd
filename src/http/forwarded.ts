import type { AppContext, Origin } from "../context.ts";
import { recordEvent, storedClientIp } from "../audit/service.ts";
import { parseIp, truncateIp } from "../lib/ip.ts";
import { metrics } from "../metrics/index.ts";

const HOUR = 3_600_000;

export interface ForwardedNoticeLimits {
  /** How long one peer (network) stays noticed: one warning and one audit row per peer per this. */
  everyMs: number;
  /** Peers remembered at once; past it expired entries go first, then the oldest. */
  maxPeers: number;
  /** Notices (warning + audit row) per `everyMs` across all peers; more are only counted in the metrics. */
  maxPerWindow: number;
}

const DEFAULTS: ForwardedNoticeLimits = { everyMs: HOUR, maxPeers: 10_000, maxPerWindow: 100 };

/**
 * What the server tells the operator about X-Forwarded-For it cannot use. A peer that is not in `trusted_proxies`
 * but sends the header is usually a reverse proxy someone forgot to list (then every client looks like the proxy,
 * and shares its lockouts), or a client forging the header. Each such request is counted in a metric; one warning
 * and one `proxy.untrusted` audit event are written per peer per hour. Peers are grouped by the `[limits]` prefixes
 * (an IPv6 /64 is one peer by default), and at most `maxPerWindow` peers are noticed per hour, so a spray of
 * source addresses costs a bounded number of rows and bounded memory.
 * A trusted proxy whose header holds an entry that is not an address gets one warning per peer per hour (no audit
 * row: the request is answered 400 and the fix is in the proxy's config).
 */
export class ForwardedNotices {
  private readonly untrustedSeen = new Map<string, number>();
  private readonly invalidSeen = new Map<string, number>();
  private windowStart = -Infinity;
  private inWindow = 0;
  private readonly limits: ForwardedNoticeLimits;

  constructor(
    private readonly ctx: AppContext,
    limits: Partial<ForwardedNoticeLimits> = {},
  ) {
    this.limits = { ...DEFAULTS, ...limits };
  }

  /** A request from `peer` (not a trusted proxy) carried X-Forwarded-For. */
  untrusted(peer: string, userAgent: string | null, now = Date.now()): void {
    metrics.untrustedForwarded.inc();
    const net = this.network(peer);
    if (!this.due(this.untrustedSeen, net, now)) return;
    const shown = this.shown(peer);
    this.ctx.log.warn(
      `X-Forwarded-For from ${shown}, which is not in [server] trusted_proxies: the header is ignored and the client address is the peer's own. ` +
        `If ${shown} is your reverse proxy, add it to trusted_proxies; otherwise a client is sending the header itself. (Logged once per hour per peer.)`,
    );
    const origin: Origin = { source: "system", actor: null, ip: peer, userAgent };
    this.ctx.db
      .write(() => recordEvent(this.ctx, origin, { type: "proxy.untrusted", details: { setting: "server.trusted_proxies", header: "X-Forwarded-For" } }, now))
      .catch(() => {});
  }

  /** A trusted proxy `peer` sent an X-Forwarded-For entry that is not a bare address; the request gets 400. */
  invalid(peer: string | null, entry: string, now = Date.now()): void {
    metrics.invalidForwarded.inc();
    if (peer === null || !this.due(this.invalidSeen, this.network(peer), now)) return;
    this.ctx.log.warn(
      `X-Forwarded-For from trusted proxy ${this.shown(peer)} holds ${describeEntry(entry)}, not a bare IP address: answering 400. ` +
        `Make the proxy send only the client's address (nginx: proxy_set_header X-Forwarded-For $remote_addr). (Logged once per hour per proxy.)`,
    );
  }

  /** Whether `net` is due a notice now; remembers that it had one. Bounded by maxPeers and maxPerWindow. */
  private due(seen: Map<string, number>, net: string, now: number): boolean {
    const last = seen.get(net);
    if (last !== undefined && now - last < this.limits.everyMs) return false;
    if (now - this.windowStart >= this.limits.everyMs) {
      this.windowStart = now;
      this.inWindow = 0;
    }
    if (this.inWindow >= this.limits.maxPerWindow) {
      if (this.inWindow++ === this.limits.maxPerWindow) {
        this.ctx.log.warn(
          `more than ${this.limits.maxPerWindow} peers sent X-Forwarded-For that could not be used within the hour; ` +
            `further ones are only counted (invited_untrusted_forwarded_requests_total, invited_invalid_forwarded_requests_total)`,
        );
      }
      return false;
    }
    this.inWindow++;
    seen.delete(net); // re-inserted below: Map order stays oldest-first for eviction
    if (seen.size >= this.limits.maxPeers) {
      for (const [k, at] of seen) if (now - at >= this.limits.everyMs) seen.delete(k);
      for (const k of seen.keys()) {
        if (seen.size < this.limits.maxPeers) break;
        seen.delete(k);
      }
    }
    seen.set(net, now);
    return true;
  }

  /** The peer's network as the lockout counts it ([limits] ipv4_prefix / ipv6_prefix). */
  private network(peer: string): string {
    if (peer === this.lastPeer) return this.lastNetwork; // a forgotten proxy sends every request from one address
    const addr = parseIp(peer);
    this.lastPeer = peer;
    this.lastNetwork = addr ? truncateIp(addr, this.ctx.config.limits.ipv4Prefix, this.ctx.config.limits.ipv6Prefix) : peer;
    return this.lastNetwork;
  }
  private lastPeer: string | null = null;
  private lastNetwork = "";

  /** The peer as the logs may show it: cut or hidden as [audit] says, like the request log. */
  private shown(peer: string): string {
    return storedClientIp(this.ctx, peer) ?? "a peer (address not logged: [audit] ips = false)";
  }
}

/** The shape of a refused entry, never the entry itself: it may hold a client's address in a form [audit] would cut. */
function describeEntry(entry: string): string {
  if (entry === "") return "an empty entry";
  if (/^unknown$/i.test(entry)) return 'the entry "unknown"';
  if (/^(\[[0-9a-f:.]+\]|[0-9.]+):[0-9]*$/i.test(entry)) return "an address with a port";
  if (/^\[[0-9a-f:.]+\]$/i.test(entry)) return "a bracketed IPv6 address";
  return "an entry that is not an IP address";
}
