import { Database } from "bun:sqlite";
import pkg from "../package.json" with { type: "json" };

// Replaced at build time by scripts/build.ts (--define); "dev" when run from source.
declare const INVITED_BUILD: string | undefined;

export const VERSION = pkg.version;
export const BUILD = typeof INVITED_BUILD === "string" ? INVITED_BUILD : "dev (from source)";

export const ATTRIBUTIONS = [
  "GeoIP: built-in country data from @ip-location-db/geo-whois-asn-country-mmdb (CC0-1.0),",
  "  based on data from the NRO (https://www.nro.net), licensed under CC BY 4.0.",
  "Country and continent names: countries-list (MIT).",
];

export function versionText(): string {
  return [`invited ${VERSION}`, `build: ${BUILD}`, `runtime: Bun ${Bun.version}, SQLite ${sqliteVersion()}`, ...ATTRIBUTIONS].join("\n");
}

function sqliteVersion(): string {
  const db = new Database(":memory:");
  try {
    return (db.query("SELECT sqlite_version() AS v").get() as { v: string }).v;
  } finally {
    db.close();
  }
}
