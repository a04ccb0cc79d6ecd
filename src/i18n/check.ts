// Checks a message against the English one it translates or overrides: it must parse, use the same arguments
// (names and kinds: a plural stays a plural) and only the known tags. Used by config (admin overrides), the
// catalog tests and `npm run i18n:check`.
import { IntlMessageFormat } from "intl-messageformat";
import { CATALOGS, MESSAGE_KEYS, type Catalog, type Lang, type MessageKey } from "./catalogs.ts";
import { MESSAGE_TAGS } from "./messages.ts";

// The parser's element types (@formatjs/icu-messageformat-parser's TYPE enum), read through IntlMessageFormat.getAst.
type MessageFormatElement = ReturnType<IntlMessageFormat["getAst"]>[number];
const TYPE = { argument: 1, number: 2, date: 3, time: 4, select: 5, plural: 6, pound: 7, tag: 8 } as const;
const KIND: Record<number, string> = { 1: "text", 2: "number", 3: "date", 4: "time", 5: "select", 6: "plural" };

export interface MessageShape {
  /** argument name → kind ("text", "number", "plural", ...) */
  args: Map<string, string>;
  tags: Set<string>;
}

function walk(elements: MessageFormatElement[], shape: MessageShape): void {
  for (const el of elements) {
    if (el.type === TYPE.tag) {
      shape.tags.add(el.value);
      walk(el.children, shape);
      continue;
    }
    const kind = KIND[el.type];
    if (kind && "value" in el && typeof el.value === "string") {
      // A `{n}` and a `{n, number}` of the same name are the same value; keep the more specific kind.
      const had = shape.args.get(el.value);
      if (!had || had === "text") shape.args.set(el.value, kind);
    }
    if (el.type === TYPE.select || el.type === TYPE.plural) {
      for (const option of Object.values(el.options)) walk(option.value, shape);
    }
  }
}

/** The arguments and tags of a message; throws on a syntax error. */
export function messageShape(text: string): MessageShape {
  const shape: MessageShape = { args: new Map(), tags: new Set() };
  walk(new IntlMessageFormat(text, "en").getAst(), shape);
  return shape;
}

/**
 * May a message use an argument as `got` where English uses it as `want`? Plain `{x}` prints anything; a number
 * may be pluralised on (English says "3 of 5 uses", Russian agrees with the 3); a select or date stays one.
 */
function compatible(want: string, got: string): boolean {
  if (got === "text") return true;
  if (got === "number" || got === "plural") return want === "number" || want === "plural";
  return got === want;
}

/** The plural categories whole numbers up to 200 fall in, in a language: what a plural must spell out. */
function neededPluralCategories(lang: Lang): Set<string> {
  let needed = neededByLang.get(lang);
  if (!needed) {
    const rules = new Intl.PluralRules(lang);
    needed = new Set<string>();
    for (let n = 0; n <= 200; n++) needed.add(rules.select(n));
    neededByLang.set(lang, needed);
  }
  return needed;
}
const neededByLang = new Map<Lang, Set<string>>();

function pluralProblems(elements: MessageFormatElement[], needed: Set<string>, out: string[]): void {
  for (const el of elements) {
    if (el.type === TYPE.tag) pluralProblems(el.children, needed, out);
    if (el.type === TYPE.select || el.type === TYPE.plural) {
      if (el.type === TYPE.plural) {
        const missing = [...needed].filter((c) => !Object.hasOwn(el.options, c));
        if (missing.length > 0) out.push(`{${el.value}, plural} lacks the form${missing.length > 1 ? "s" : ""} ${missing.join(", ")}`);
      }
      for (const option of Object.values(el.options)) pluralProblems(option.value, needed, out);
    }
  }
}

/** What is wrong with `text` as the message `key` in `lang`, or null. */
export function messageProblem(lang: Lang, key: string, text: string): string | null {
  if (!Object.hasOwn(CATALOGS.en, key)) return "is not a message key (see src/i18n/catalogs/en.json)";
  let shape: MessageShape;
  try {
    shape = messageShape(text);
    new IntlMessageFormat(text, lang);
  } catch (e) {
    return `does not parse as an ICU message: ${(e as Error).message}`;
  }
  const ref = messageShape(CATALOGS.en[key as MessageKey]);
  for (const [name, kind] of shape.args) {
    const want = ref.args.get(name);
    if (!want) return `uses {${name}}, which this message does not have (it has: ${[...ref.args.keys()].map((a) => `{${a}}`).join(" ") || "none"})`;
    if (!compatible(want, kind)) return `uses {${name}} as ${kind}, but it is a ${want}`;
  }
  for (const tag of shape.tags) {
    if (!MESSAGE_TAGS.includes(tag)) return `uses the tag <${tag}>, which is not known (known: ${MESSAGE_TAGS.map((t) => `<${t}>`).join(" ")})`;
  }
  if (/[\u0000-\u0008\u000b-\u001f\u007f]/.test(text)) return "contains control characters";
  const plural: string[] = [];
  pluralProblems(new IntlMessageFormat(text, lang).getAst(), neededPluralCategories(lang), plural);
  if (plural.length > 0) return `has a plural without every form ${lang} needs: ${plural.join("; ")}`;
  return null;
}

/**
 * Every problem of a whole catalog against English: missing and extra keys, and per message the problems above plus
 * an argument English has that the translation drops (an override may drop one; a translation may not).
 */
export function catalogProblems(lang: Lang, catalog: Record<string, unknown> = CATALOGS[lang]): string[] {
  const problems: string[] = [];
  for (const key of MESSAGE_KEYS) if (!Object.hasOwn(catalog, key)) problems.push(`${lang}: missing key ${key}`);
  for (const [key, value] of Object.entries(catalog)) {
    if (typeof value !== "string") {
      problems.push(`${lang}: ${key} must be a string`);
      continue;
    }
    const problem = messageProblem(lang, key, value);
    if (problem) {
      problems.push(`${lang}: ${key} ${problem}`);
      continue;
    }
    const mine = messageShape(value);
    const ref = messageShape((CATALOGS.en as Catalog)[key as MessageKey]);
    for (const name of ref.args.keys()) if (!mine.args.has(name)) problems.push(`${lang}: ${key} lacks {${name}}`);
    for (const tag of ref.tags) if (!mine.tags.has(tag)) problems.push(`${lang}: ${key} lacks the tag <${tag}>`);
    if (value.trim() === "") problems.push(`${lang}: ${key} is empty`);
  }
  return problems;
}
