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

/** The longest textual IP address: eight IPv6 groups ending in an IPv4 address. */
const MAX_ADDRESS_LENGTH = 45;
const bare = new Map<string, ipaddr.IPv4 | ipaddr.IPv6 | null>();

/**
 * A bare IP address as a proxy writes it into X-Forwarded-For: dotted-quad IPv4 or plain IPv6 (IPv4-mapped is
 * normalised to IPv4). No port, brackets, zone, surrounding space or the shorthand forms ipaddr.js also reads
 * ("127.1", "0x7f.0.0.1", "2130706433"); null otherwise. Memoised like parseIp; over-long text is refused before it
 * reaches the memo, so junk cannot fill it with big keys.
 */
export function parseBareIp(text: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  if (text.length > MAX_ADDRESS_LENGTH) return null;
  let hit = bare.get(text);
  if (hit === undefined) {
    const valid = text.includes(":") ? !text.includes("%") && ipaddr.IPv6.isValid(text) : ipaddr.IPv4.isValidFourPartDecimal(text);
    hit = valid ? parseIp(text) : null;
    if (bare.size >= 8192) bare.clear();
    bare.set(text, hit);
  }
  return hit;
}

/** Where a request comes from, as the server layer works it out from the socket peer and X-Forwarded-For. */
export interface ResolvedClient {
  /** The client address; null when there is no usable peer or `invalid` is set. */
  ip: string | null;
  /** The peer is not a trusted proxy but sent X-Forwarded-For (ignored: the client is the peer). */
  untrusted: boolean;
  /** An X-Forwarded-For entry from a trusted hop that is not a bare address; the request gets 400. */
  invalid: string | null;
}

/**
 * The client address: the socket peer, unless that peer is a trusted proxy, in which case X-Forwarded-For is walked
 * from the right through trusted hops to the first entry that is not a trusted proxy. Every entry read on that walk
 * must be a bare address: anything else (`1.2.3.4:5555`, `unknown`, an empty entry) makes `invalid`, never the
 * proxy's own address. Entries left of the first untrusted hop are not read at all: anyone could have written them.
 * `Forwarded` (RFC 7239) is not read.
 */
export function resolveClientIp(peer: string | null, forwardedFor: string | null, trusted: AddressMatcher): ResolvedClient {
  const known = peer ? trusted.peer(peer) : null;
  if (!known) return { ip: null, untrusted: false, invalid: null };
  if (forwardedFor === null) return { ip: known.ip, untrusted: false, invalid: null };
  if (!known.trusted) return { ip: known.ip, untrusted: true, invalid: null };
  let ip = known.ip;
  let end = forwardedFor.length;
  while (end >= 0) {
    const comma = end === 0 ? -1 : forwardedFor.lastIndexOf(",", end - 1);
    const entry = trimOws(forwardedFor.slice(comma + 1, end));
    const hop = parseBareIp(entry);
    if (!hop) return { ip: null, untrusted: false, invalid: entry };
    ip = hop.toString();
    if (!trusted.matches(hop)) break;
    end = comma; // -1 after the left-most entry: the loop ends
  }
  return { ip, untrusted: false, invalid: null };
}

/** Strips the optional spaces and tabs HTTP allows around list entries (not other whitespace). */
function trimOws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s.charCodeAt(a) === 32 || s.charCodeAt(a) === 9)) a++;
  while (b > a && (s.charCodeAt(b - 1) === 32 || s.charCodeAt(b - 1) === 9)) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}
