import ipaddr from "ipaddr.js";

export type ParsedRange = [ipaddr.IPv4 | ipaddr.IPv6, number];

const parsed = new Map<string, ipaddr.IPv4 | ipaddr.IPv6 | null>();

/**
 * Parses an address, normalising IPv4-mapped IPv6 (::ffff:a.b.c.d) to IPv4. Returns null for junk. Results are
 * memoised (bounded): the same few client addresses recur on every request, and ipaddr.js parsing is not cheap.
 * Callers must not mutate the returned object.
 */
export function parseIp(text: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  let hit = parsed.get(text);
  if (hit === undefined) {
    hit = parseIpUncached(text);
    if (parsed.size >= 8192) parsed.clear();
    parsed.set(text, hit);
  }
  return hit;
}

function parseIpUncached(text: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  const s = text.trim().replace(/^\[(.*)\]$/, "$1");
  if (!ipaddr.isValid(s)) return null;
  const addr = ipaddr.parse(s);
  if (addr.kind() === "ipv6" && (addr as ipaddr.IPv6).isIPv4MappedAddress()) return (addr as ipaddr.IPv6).toIPv4Address();
  return addr;
}

/** Parses "10.0.0.0/8", "::1" etc.; a bare address is a one-host range. */
export function parseRange(text: string): ParsedRange | null {
  const s = text.trim();
  try {
    if (s.includes("/")) {
      const [addr, bits] = ipaddr.parseCIDR(s);
      return [addr.kind() === "ipv6" && (addr as ipaddr.IPv6).isIPv4MappedAddress() ? (addr as ipaddr.IPv6).toIPv4Address() : addr, bits];
    }
    const addr = parseIp(s);
    if (!addr) return null;
    return [addr, addr.kind() === "ipv4" ? 32 : 128];
  } catch {
    return null;
  }
}

/** Returns the first entry that is not an address or CIDR range, or null when all are valid. */
export function parseAddressList(list: string[]): string | null {
  for (const item of list) if (!parseRange(item)) return item;
  return null;
}

export class AddressMatcher {
  private readonly ranges: ParsedRange[];
  // Socket peers repeat (keep-alive, a reverse proxy): remember what each one normalises to and whether it is
  // trusted, so the hot path skips parsing. Bounded: cleared when full.
  private readonly peers = new Map<string, { ip: string; trusted: boolean } | null>();
  constructor(list: string[]) {
    this.ranges = list.map((x) => parseRange(x)).filter((x): x is ParsedRange => x !== null);
  }
  peer(text: string): { ip: string; trusted: boolean } | null {
    let hit = this.peers.get(text);
    if (hit === undefined) {
      const addr = parseIp(text);
      hit = addr ? { ip: addr.toString(), trusted: this.matches(addr) } : null;
      if (this.peers.size >= 4096) this.peers.clear();
      this.peers.set(text, hit);
    }
    return hit;
  }
  matches(addr: ipaddr.IPv4 | ipaddr.IPv6 | null): boolean {
    if (!addr) return false;
    for (const [net, bits] of this.ranges) {
      if (net.kind() === addr.kind() && addr.match(net as never, bits)) return true;
    }
    return false;
  }
}

/** Cuts an address to its network prefix, e.g. 81.2.69.142/24 -> "81.2.69.0/24". */
export function truncateIp(addr: ipaddr.IPv4 | ipaddr.IPv6, v4Prefix: number | null, v6Prefix: number | null): string {
  const bits = addr.kind() === "ipv4" ? v4Prefix : v6Prefix;
  if (bits === null) return addr.toString();
  const network = networkAddress(addr, bits);
  return `${network}/${bits}`;
}

export function networkAddress(addr: ipaddr.IPv4 | ipaddr.IPv6, bits: number): string {
  const bytes = addr.toByteArray();
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    bytes[i] = bytes[i]! & ((0xff << (8 - keep)) & 0xff);
  }
  return ipaddr.fromByteArray(bytes).toString();
}

/**
 * The client address: the socket peer, unless that peer is a trusted proxy, in which case the right-most
 * X-Forwarded-For entry that is not itself a trusted proxy. Forged entries further left are ignored.
 */
export function resolveClientIp(peer: string | null, forwardedFor: string | null, trusted: AddressMatcher): string | null {
  if (!peer) return null;
  const known = trusted.peer(peer);
  if (!known || !forwardedFor || !known.trusted) return known?.ip ?? null;
  let addr = parseIp(known.ip)!;
  const hops = forwardedFor.split(",");
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = parseIp(hops[i]!);
    if (!hop) break; // junk in the chain: stop at the last address we could trust
    addr = hop;
    if (!trusted.matches(hop)) break;
  }
  return addr.toString();
}
