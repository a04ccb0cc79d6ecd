// Username rules: a username is an identifier, not a picture. PRECIS UsernameCaseMapped (RFC 8265) with the XMPP
// localpart rules (RFC 7622), so that what invited stores, shows, audits and hands to a provider is exactly what the
// XMPP server will use: the normalised name must also be a fixed point of Prosody's stringprep nodeprep (RFC 3920),
// which strips default-ignorable characters and applies NFKC. On top of that, UTS #39: no mixing of scripts beyond
// "Highly Restrictive", and confusable skeletons for the "name taken" check (see usernameConflictTx in service.ts).
//
// Script data comes from the JavaScript engine's own Unicode tables (\p{Script_Extensions=...}); confusables from
// the `unhomoglyph` package (Unicode's confusables.txt as a JSON map).
import type { HostConfig } from "../config/index.ts";

export type UsernameProblem =
  | "empty"
  | "too_short"
  | "too_long"
  | "invisible"
  | "forbidden_characters"
  | "not_canonical"
  | "bidi"
  | "mixed_scripts"
  | "reserved"
  | "leading_dash";

export type UsernameHost = Pick<HostConfig, "usernameMinLength" | "usernameMaxLength" | "reservedUsernames" | "provision">;


// Fullwidth and halfwidth forms (and the ideographic space), whose compatibility mapping is the PRECIS width mapping.
const WIDE_OR_NARROW = /[\u3000\uFF01-\uFFEE]/gu;

const CHEROKEE = /\p{Script=Cherokee}/u;

/**
 * Unicode Default Case Folding, one code point at a time. JavaScript has no casefold(); upper-then-lower casing
 * gives the full folding (ß → ss, ς → σ, ϐ → β, ſ → s, ǅ → ǆ) apart from two cases fixed here: dotless ı stays ı,
 * and Cherokee folds to its capital letters.
 */
function caseFold(s: string): string {
  let out = "";
  for (const c of s) {
    if (c === "\u0131") out += c;
    else if (CHEROKEE.test(c)) out += c.toUpperCase();
    else {
      let f = c.toUpperCase().toLowerCase();
      // ẞ → ß → ss: fold until stable (at most twice for any code point).
      for (let i = 0; i < 2; i++) {
        const g = f.toUpperCase().toLowerCase();
        if (g === f) break;
        f = g;
      }
      out += f;
    }
  }
  return out;
}

/**
 * The PRECIS UsernameCaseMapped preparation: width mapping, case folding, NFC. Everything that compares, stores or
 * looks up a username goes through this; checkUsername then says whether the result is an acceptable name.
 * Lone UTF-16 surrogates become U+FFFD (which checkUsername refuses).
 */
export function normaliseUsername(input: string): string {
  const wellFormed = input.toWellFormed();
  return caseFold(wellFormed.replace(WIDE_OR_NARROW, (c) => c.normalize("NFKC"))).normalize("NFC");
}

/** How accounts were normalised before these rules (NFKC + lower case): the fallback when looking up an old account. */
export function legacyNormaliseUsername(input: string): string {
  return input.normalize("NFKC").toLowerCase();
}

// Invisible or blank: default-ignorable code points (U+00AD, U+034F, U+115F, U+1160, U+17B4, U+180B-180F, U+200B-200F,
// U+202A-202E, U+2060-206F, U+3164, U+FE00-FE0F, U+FEFF, U+FFA0, U+E0000-E0FFF...), other format characters, bidi
// controls, and U+2800 (braille blank), which renders as nothing.
const INVISIBLE = /[\p{Default_Ignorable_Code_Point}\p{Cf}\p{Bidi_Control}\u2800]/u;
// Spaces, controls, private use, unassigned, U+FFFD, the XMPP localpart's " & ' / : < > @, and outside ASCII anything
// PRECIS's IdentifierClass disallows: symbols, punctuation, titlecase letters, letter-like and other numbers,
// enclosing marks, and the RFC 5892 exceptions that are letters or marks (tatweel, NKo lajanyalan, Hangul tone marks,
// vertical kana repeat marks).
const FORBIDDEN = /[\p{White_Space}\p{Cc}\p{Co}\p{Cs}\p{Cn}\p{Z}\uFFFD"&'\/:<>@\u0640\u07FA\u302E\u302F\u3031-\u3035\u303B]/u;
const NON_ASCII_NOT_LETTER_DIGIT = /[^\x00-\x7f\p{Ll}\p{Lu}\p{Lo}\p{Lm}\p{Nd}\p{Mn}\p{Mc}]/u;
// Conjoining jamo that did not compose into a syllable under NFC: PRECIS's OldHangulJamo class.
const OLD_HANGUL_JAMO = /[\u1100-\u11FF\uA960-\uA97F\uD7B0-\uD7FF]/u;
// Scripts whose letters (and most digits) are right-to-left (bidi R or AL), for the stringprep bidi rule that
// nodeprep applies. Names this engine does not know are skipped.
const RTL_SCRIPTS =
  "Adlm Arab Armi Avst Chrs Cprt Elym Hatr Hebr Hung Khar Lydi Mand Mani Mend Merc Mero Narb Nbat Nkoo Orkh Ougr Palm Phli Phlp Phnx Prti Rohg Samr Sarb Sogd Sogo Syrc Thaa Yezi".split(" ");
let rtlLetter: RegExp | null = null;
function isRtlLetter(c: string): boolean {
  if (!rtlLetter) {
    const known = RTL_SCRIPTS.filter((code) => {
      try {
        new RegExp(`\\p{Script=${code}}`, "u");
        return true;
      } catch {
        return false;
      }
    });
    // Letters and digits of those scripts, except the Arabic and Hanifi Rohingya digits (bidi AN, not R or AL).
    rtlLetter = new RegExp(`^[[[\\p{L}\\p{Nd}]&&[${known.map((code) => `\\p{Script=${code}}`).join("")}]]--[\\u0660-\\u0669\\u06F0-\\u06F9\\u{10D30}-\\u{10D39}]]$`, "v");
  }
  return rtlLetter.test(c);
}

/**
 * Checks a normalised username (the output of normaliseUsername) against the host's rules: length in code points,
 * no invisible, blank or forbidden characters, nothing the XMPP server would rewrite, the bidi rule, one script
 * (UTS #39 Highly Restrictive) and not a reserved name. Pure: whether the name is free is usernameConflictTx's job.
 */
export function checkUsername(username: string, host: UsernameHost): UsernameProblem | null {
  if (username.length === 0) return "empty";
  // Length is counted in code points; the UTF-16 guard keeps a huge input from being scanned at all.
  if (username.length > 2 * host.usernameMaxLength || [...username].length > host.usernameMaxLength) return "too_long";
  if (INVISIBLE.test(username)) return "invisible";
  if (FORBIDDEN.test(username) || NON_ASCII_NOT_LETTER_DIGIT.test(username)) return "forbidden_characters";
  // The XMPP server's nodeprep would map these (NFKC, case folding) or refuse them: never hand it such a name.
  if (OLD_HANGUL_JAMO.test(username) || username.normalize("NFKC") !== username || normaliseUsername(username) !== username) return "not_canonical";
  if (!bidiOk(username)) return "bidi";
  if ([...username].length < host.usernameMinLength) return "too_short";
  if (!highlyRestrictive(username)) return "mixed_scripts";
  if (isReserved(username, host)) return "reserved";
  // A command provider puts the name into argv, where a leading "-" could be taken for an option. Checked here so
  // an invite bound to such a name cannot be made (by the API or the CLI) only to fail at registration.
  if (host.provision.type === "command" && username.startsWith("-")) return "leading_dash";
  return null;
}

/** RFC 3454 section 6 (what nodeprep enforces): a name with right-to-left letters has no left-to-right ones and starts and ends with one. */
function bidiOk(username: string): boolean {
  const cps = [...username];
  if (!cps.some(isRtlLetter)) return true;
  if (!isRtlLetter(cps[0]!) || !isRtlLetter(cps.at(-1)!)) return false;
  return cps.every((c) => !/\p{L}/u.test(c) || isRtlLetter(c));
}

function isReserved(username: string, host: UsernameHost): boolean {
  const reserved = reservedSkeletons(host.reservedUsernames);
  return reserved.has(username) || reserved.has(usernameSkeleton(username));
}

const reservedCache = new WeakMap<readonly string[], Set<string>>();
function reservedSkeletons(list: readonly string[]): Set<string> {
  let set = reservedCache.get(list);
  if (!set) {
    // The list is kept as configured: compare its names normalised and by skeleton.
    set = new Set(list.flatMap((n) => [normaliseUsername(n), usernameSkeleton(n)]));
    reservedCache.set(list, set);
  }
  return set;
}

const USERNAME_PROBLEMS: Record<UsernameProblem, (host?: Pick<HostConfig, "usernameMinLength" | "usernameMaxLength">) => string> = {
  empty: () => "is empty",
  too_short: (h) => (h ? `is too short (at least ${h.usernameMinLength} characters)` : "is too short"),
  too_long: (h) => (h ? `is too long (at most ${h.usernameMaxLength} characters)` : "is too long"),
  invisible: () => "contains invisible or blank characters (joiners, variation selectors, fillers, format or bidi controls)",
  forbidden_characters: () => "contains spaces, symbols, control characters or forbidden characters (@ / : \" ' & < >)",
  not_canonical: () => "contains characters the XMPP server would rewrite (compatibility forms such as ligatures, styled or circled letters, or old Hangul jamo)",
  bidi: () => "mixes right-to-left and left-to-right letters, or does not start and end with a right-to-left letter",
  mixed_scripts: () => "mixes writing systems (such as Latin with Cyrillic or Greek)",
  reserved: () => "is reserved on this host",
  leading_dash: () => "must not start with '-' on this host (its accounts are created by a command)",
};

/** What checkUsername found, as one sentence for the CLI and the API ("username is too long (at most 64 characters)"). */
export function usernameProblemMessage(problem: UsernameProblem, host?: Pick<HostConfig, "usernameMinLength" | "usernameMaxLength">): string {
  return `username ${USERNAME_PROBLEMS[problem](host)}`;
}

// ---------------------------------------------------------------------------------------------------------------
// UTS #39 mixed-script detection.

// ISO 15924 codes of the Unicode scripts; names this engine's Unicode version does not know are skipped.
const SCRIPT_CODES =
  "Adlm Aghb Ahom Arab Armi Armn Avst Bali Bamu Bass Batk Beng Bhks Bopo Brah Brai Bugi Buhd Cakm Cans Cari Cham Cher Chrs Copt Cpmn Cprt Cyrl Deva Diak Dogr Dsrt Dupl Egyp Elba Elym Ethi Gara Geor Glag Gong Gonm Goth Gran Grek Gujr Gukh Guru Hang Hani Hano Hatr Hebr Hira Hluw Hmng Hmnp Hung Ital Java Kali Kana Kawi Khar Khmr Khoj Kits Knda Krai Kthi Lana Laoo Latn Lepc Limb Lina Linb Lisu Lyci Lydi Mahj Maka Mand Mani Marc Medf Mend Merc Mero Mlym Modi Mong Mroo Mtei Mult Mymr Nagm Nand Narb Nbat Newa Nkoo Nshu Ogam Olck Onao Orkh Orya Osge Osma Ougr Palm Pauc Perm Phag Phli Phlp Phnx Plrd Prti Rjng Rohg Runr Samr Sarb Saur Sgnw Shaw Shrd Sidd Sind Sinh Sogd Sogo Sora Soyo Sund Sunu Sylo Syrc Tagb Takr Tale Talu Taml Tang Tavt Tayo Telu Tfng Tglg Thaa Thai Tibt Tirh Tnsa Todr Tols Toto Tutg Ugar Vaii Vith Wara Wcho Xpeo Xsux Yezi Yiii Zanb".split(
    " ",
  );
let scriptTests: [string, RegExp][] | null = null;
function scripts(): [string, RegExp][] {
  if (!scriptTests) {
    scriptTests = [];
    for (const code of SCRIPT_CODES) {
      try {
        scriptTests.push([code, new RegExp(`^\\p{Script_Extensions=${code}}$`, "u")]);
      } catch {}
    }
  }
  return scriptTests;
}

const COMMON_OR_INHERITED = /^[\p{Script_Extensions=Zyyy}\p{Script_Extensions=Zinh}]$/u;
const scriptCache = new Map<string, ReadonlySet<string> | null>();

/** A code point's Script_Extensions (null for Common/Inherited, which go with any script). */
function scriptsOf(c: string): ReadonlySet<string> | null {
  let s = scriptCache.get(c);
  if (s === undefined) {
    s = COMMON_OR_INHERITED.test(c) ? null : new Set(scripts().filter(([, re]) => re.test(c)).map(([code]) => code));
    if (scriptCache.size < 20_000) scriptCache.set(c, s);
  }
  return s;
}

// UTS #39 section 5.1: Han, Hiragana, Katakana, Hangul and Bopomofo also stand for the writing systems they belong to.
function augmented(set: ReadonlySet<string>): Set<string> {
  const out = new Set(set);
  if (set.has("Hani")) ["Hanb", "Jpan", "Kore"].forEach((x) => out.add(x));
  if (set.has("Hira") || set.has("Kana")) out.add("Jpan");
  if (set.has("Hang")) out.add("Kore");
  if (set.has("Bopo")) out.add("Hanb");
  return out;
}

const HIGHLY_RESTRICTIVE_COVERS = [new Set(["Latn", "Hani", "Hira", "Kana"]), new Set(["Latn", "Hani", "Bopo"]), new Set(["Latn", "Hani", "Hang"])];

/** UTS #39 section 5.2 "Highly Restrictive": one script, or Latin with Japanese, Chinese (Bopomofo) or Korean. */
export function highlyRestrictive(username: string): boolean {
  if (/^[\x00-\x7f]*$/.test(username)) return true; // Latin and Common only
  const sets: ReadonlySet<string>[] = [];
  for (const c of username) {
    const s = scriptsOf(c);
    if (s) sets.push(s);
  }
  let resolved = null as Set<string> | null;
  for (const s of sets) {
    const a = augmented(s);
    resolved = resolved === null ? a : new Set([...resolved].filter((x) => a.has(x)));
  }
  if (resolved === null || resolved.size > 0) return true;
  return HIGHLY_RESTRICTIVE_COVERS.some((cover) => sets.every((s) => [...s].some((x) => cover.has(x))));
}

// ---------------------------------------------------------------------------------------------------------------
// UTS #39 confusable skeletons.

let confusables: Map<string, string> | null = null;
function confusableMap(): Map<string, string> {
  // Loaded on first use: a CLI command that never compares names does not parse the 100 KB table. A plain
  // require() with a literal path, so the bundler embeds the file in the compiled binary.
  confusables ??= new Map(Object.entries(require("unhomoglyph/data.json") as Record<string, string>));
  return confusables;
}

/**
 * The UTS #39 skeleton of a name as normaliseUsername makes it: NFD, default-ignorable code points removed, each
 * code point replaced by its prototype from confusables.txt, NFD again. Two names with the same skeleton look alike
 * ("alice" and "аlice", "mary" and "rnary", "bob" and an old account's "bob" + U+034F, an old "groß" and "gross").
 * Lower-cased at the end, because usernames are compared case-folded while some prototypes are capitals ("0" → "O",
 * so "r00t" is "root"). Total: any string has one.
 */
export function usernameSkeleton(username: string): string {
  const map = confusableMap();
  let out = "";
  for (const c of normaliseUsername(username).normalize("NFD").replace(/\p{Default_Ignorable_Code_Point}/gu, "")) out += map.get(c) ?? c;
  return out.toLowerCase().normalize("NFD");
}

/** A name made printable for an admin: invisible, blank and control characters as \u{XXXX}. */
export function showUsername(username: string): string {
  return username.replace(/[\p{Default_Ignorable_Code_Point}\p{C}\p{Z}\u2800]/gu, (c) => `\\u{${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}}`);
}
