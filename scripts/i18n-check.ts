// `npm run i18n:check [LANG...]`: checks message catalogs against English, from the files on disk, so a catalog
// being written is checked before it is wired in. Every key of en.json, no other key, each message parses as ICU
// MessageFormat, the same placeholders and tags as English, every plural form the language needs. Also says which
// files src/i18n/catalogs.ts does not load yet, and which messages are still word for word English (a hint only).
// Exit 0 when every checked catalog is clean, 1 otherwise.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { catalogProblems } from "../src/i18n/check.ts";
import { CATALOGS, LANGUAGES, type Lang } from "../src/i18n/catalogs.ts";

// I18N_CATALOGS points the check at another folder (the tests use one with a broken catalog).
const DIR = process.env.I18N_CATALOGS || join(import.meta.dir, "..", "src", "i18n", "catalogs");
const files = readdirSync(DIR).filter((f) => f.endsWith(".json")).map((f) => f.slice(0, -5)).sort();
const wanted = process.argv.slice(2);
for (const w of wanted) {
  if (!files.includes(w)) {
    console.error(`no catalog ${w}.json in src/i18n/catalogs (there are: ${files.join(", ")})`);
    process.exit(1);
  }
}

let failed = false;
for (const lang of wanted.length > 0 ? wanted : files) {
  let problems: string[];
  let catalog: Record<string, unknown> = {};
  try {
    new Intl.PluralRules(lang); // the file name must be a language tag Intl knows
    catalog = JSON.parse(readFileSync(join(DIR, `${lang}.json`), "utf8"));
    problems = typeof catalog === "object" && catalog && !Array.isArray(catalog) ? catalogProblems(lang as Lang, catalog) : [`${lang}: must be a JSON object of "key": "message"`];
  } catch (e) {
    problems = [`${lang}: ${(e as Error).message}`];
  }
  const notes: string[] = [];
  if (!(LANGUAGES as readonly string[]).includes(lang)) notes.push(`not loaded yet: import it in src/i18n/catalogs.ts and add "${lang}" to LANGUAGES`);
  if (lang !== "en") {
    const same = Object.entries(CATALOGS.en).filter(([k, v]) => catalog[k] === v).map(([k]) => k);
    if (same.length > 0) notes.push(`same as English (fine if that is the right word): ${same.join(", ")}`);
  }
  failed ||= problems.length > 0;
  console.log(`${problems.length === 0 ? "ok  " : "FAIL"} ${lang}: ${Object.keys(catalog).length} messages${problems.length ? `, ${problems.length} problem(s)` : ""}`);
  for (const p of problems) console.log(`     ${p}`);
  for (const n of notes) console.log(`     note: ${n}`);
}
process.exit(failed ? 1 : 0);
