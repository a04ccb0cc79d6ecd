// A minimal MaxMind DB (.mmdb) writer for tests: IPv4 tree, 24-bit records, the data types GeoLite2/GeoIP2 use.
// It lets tests build a database with MaxMind's own record layout ({country: {iso_code}}) and answers that differ
// from the built-in database, so a lookup proves which file was read.
import { writeFileSync } from "node:fs";

type Value = string | number | bigint | boolean | Value[] | { [k: string]: Value };

function control(type: number, size: number): number[] {
  const out: number[] = [];
  let first: number;
  const ext: number[] = [];
  if (size < 29) first = size;
  else if (size < 285) (first = 29), ext.push(size - 29);
  else if (size < 65821) (first = 30), ext.push(((size - 285) >> 8) & 0xff, (size - 285) & 0xff);
  else (first = 31), ext.push(((size - 65821) >> 16) & 0xff, ((size - 65821) >> 8) & 0xff, (size - 65821) & 0xff);
  if (type <= 7) out.push((type << 5) | first);
  else out.push(first, type - 7); // extended type: type bits 0, then the type minus 7
  return [...out, ...ext];
}

function uintBytes(n: bigint): number[] {
  const bytes: number[] = [];
  while (n > 0n) {
    bytes.unshift(Number(n & 0xffn));
    n >>= 8n;
  }
  return bytes;
}

function encode(v: Value): number[] {
  if (typeof v === "string") {
    const b = [...new TextEncoder().encode(v)];
    return [...control(2, b.length), ...b];
  }
  if (typeof v === "boolean") return control(14, v ? 1 : 0);
  if (typeof v === "number" || typeof v === "bigint") {
    const n = BigInt(v);
    const b = uintBytes(n);
    const type = n < 65536n ? 5 : n < 4294967296n ? 6 : 9; // uint16, uint32, uint64
    return [...control(type, b.length), ...b];
  }
  if (Array.isArray(v)) return [...control(11, v.length), ...v.flatMap(encode)];
  const entries = Object.entries(v);
  return [...control(7, entries.length), ...entries.flatMap(([k, x]) => [...encode(k), ...encode(x)])];
}

type Child = { node: number } | { data: number } | null;

/** Writes an IPv4 database mapping each CIDR network to its record. */
export function writeMmdb(path: string, networks: { network: string; record: Value }[], databaseType = "GeoLite2-Country"): void {
  const nodes: [Child, Child][] = [[null, null]];
  const data: number[] = [];
  for (const { network, record } of networks) {
    const [addr, bitsText] = network.split("/");
    const bits = Number(bitsText);
    const ip = addr!.split(".").reduce((acc, o) => (acc << 8n) | BigInt(o), 0n);
    const offset = data.length;
    data.push(...encode(record));
    let node = 0;
    for (let i = 0; i < bits; i++) {
      const bit = Number((ip >> BigInt(31 - i)) & 1n);
      if (i === bits - 1) {
        nodes[node]![bit] = { data: offset };
        break;
      }
      const next = nodes[node]![bit];
      if (next && "node" in next) node = next.node;
      else {
        nodes.push([null, null]);
        nodes[node]![bit] = { node: nodes.length - 1 };
        node = nodes.length - 1;
      }
    }
  }
  const count = nodes.length;
  const value = (c: Child) => (c === null ? count : "node" in c ? c.node : count + 16 + c.data);
  const tree: number[] = [];
  for (const [l, r] of nodes) for (const v of [value(l), value(r)]) tree.push((v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff);
  const metadata = encode({
    node_count: count,
    record_size: 24,
    ip_version: 4,
    database_type: databaseType,
    languages: ["en"],
    binary_format_major_version: 2,
    binary_format_minor_version: 0,
    build_epoch: BigInt(Math.floor(Date.now() / 1000)),
    description: { en: "invited test database" },
  });
  const marker = [0xab, 0xcd, 0xef, ...new TextEncoder().encode("MaxMind.com")];
  writeFileSync(path, new Uint8Array([...tree, ...new Array(16).fill(0), ...data, ...marker, ...metadata]));
}

/** A GeoLite2/GeoIP2 Country-style record. */
export function countryRecord(isoCode: string, name: string, continentCode: string, continent: string): Value {
  return {
    continent: { code: continentCode, geoname_id: 1, names: { en: continent } },
    country: { geoname_id: 2, iso_code: isoCode, names: { en: name } },
    registered_country: { geoname_id: 2, iso_code: isoCode, names: { en: name } },
  };
}
