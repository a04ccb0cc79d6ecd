import { Reader, type Response as MmdbResponse } from "mmdb-lib";
import { readFileSync, statSync } from "node:fs";
import { countries, continents } from "countries-list";
import builtinDatabase from "@ip-location-db/geo-whois-asn-country-mmdb/geo-whois-asn-country.mmdb" with { type: "file" };
import type { Logger } from "../lib/log.ts";
import { parseIp } from "../lib/ip.ts";

export interface Location {
  countryCode: string;
  countryName: string | null;
  continent: string | null;
  /** Only from a database with cities (GeoLite2-City, DB-IP City); the built-in one has countries only. */
  city: string | null;
}

export const BUILTIN_GEOIP = "built-in (geo-whois-asn-country, data from the NRO, CC BY 4.0)";

type MmdbRecord = { country?: { iso_code?: string }; registered_country?: { iso_code?: string }; country_code?: string; city?: { names?: { en?: string } } | string };

/**
 * Country lookups from a MaxMind-format database: the built-in one, or a file the admin keeps current
 * (GeoLite2/GeoIP2 Country or City, DB-IP). A changed file is picked up by `refresh()` without a restart.
 */
export class GeoIp {
  private reader: Reader<MmdbResponse> | null = null;
  private signature = "";
  /** Bumped whenever a different database is loaded, so callers' per-address caches know to start over. */
  generation = 0;
  readonly source: string;

  constructor(
    private readonly path: string | null,
    private readonly enabled: boolean,
    private readonly log: Logger,
  ) {
    this.source = !enabled ? "disabled" : path ?? BUILTIN_GEOIP;
  }

  private opened = false;
  /** Opens the database (the server does this at start so a bad file warns once, early; the CLI opens lazily). */
  open(): this {
    if (this.enabled && !this.opened) {
      this.opened = true;
      this.load(true);
    }
    return this;
  }

  get available(): boolean {
    return this.reader !== null;
  }

  /** When the loaded database was built (its metadata's build epoch), for "how old is it"; null without one. */
  get builtAt(): number | null {
    if (!this.opened) this.open();
    const epoch = (this.reader as unknown as { metadata?: { buildEpoch?: Date | number } } | null)?.metadata?.buildEpoch;
    if (epoch === undefined || epoch === null) return null;
    const ms = epoch instanceof Date ? epoch.getTime() : Number(epoch) * 1000;
    return Number.isFinite(ms) ? ms : null;
  }

  private load(warn: boolean): void {
    const file = this.path ?? builtinDatabase;
    try {
      const st = statSync(file);
      const signature = `${st.ino}:${st.size}:${st.mtimeMs}`;
      if (signature === this.signature && this.reader) return;
      const reader = new Reader<MmdbResponse>(readFileSync(file));
      this.reader = reader;
      this.signature = signature;
      this.generation++;
    } catch (e) {
      if (warn) this.log.warn(`GeoIP database ${file} cannot be opened (${(e as Error).message}); no locations will be logged`);
      if (this.signature !== "missing") {
        this.reader = null;
        this.generation++;
      }
      this.signature = "missing";
    }
  }

  /** Re-opens the file if it was replaced (geoipupdate writes a new file and renames it into place). */
  refresh(): void {
    if (this.enabled && this.path) this.load(this.signature !== "missing");
  }

  lookup(ipText: string | null): Location | null {
    if (!this.opened) this.open();
    if (!this.reader || !ipText) return null;
    const addr = parseIp(ipText);
    if (!addr || addr.range() !== "unicast") return null; // private, loopback, link-local... have no location
    let rec: MmdbRecord | null;
    try {
      rec = this.reader.get(addr.toString()) as MmdbRecord | null;
    } catch {
      return null;
    }
    const code = (rec?.country?.iso_code ?? rec?.country_code ?? rec?.registered_country?.iso_code)?.toUpperCase();
    if (!code) return null;
    const country = (countries as Record<string, { name: string; continent: string }>)[code];
    return {
      countryCode: code,
      countryName: country?.name ?? null,
      continent: country ? ((continents as Record<string, string>)[country.continent] ?? null) : null,
      city: cityName(rec),
    };
  }
}

/** MaxMind City databases nest names by language; DB-IP lite files and some others give a plain string. */
function cityName(rec: MmdbRecord | null): string | null {
  const c = rec?.city;
  const name = typeof c === "string" ? c : c?.names?.en;
  return typeof name === "string" && name !== "" ? name.slice(0, 100) : null;
}

/** A country's English name from its ISO code ("DE" → "Germany"), or null when unknown. */
export function countryNameOf(code: string | null | undefined): string | null {
  if (!code) return null;
  return (countries as Record<string, { name: string }>)[code.toUpperCase()]?.name ?? null;
}
