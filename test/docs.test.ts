// The reference in docs/ is checked against the code it describes (issue 16): the settings list against the config
// parser's own list of known keys, the CLI page against citty's command definitions. A key or an option added to the
// code and not to the docs, or removed from the code and left in the docs, fails here.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ArgsDef, CommandDef } from "citty";
import { ROOT } from "./helpers.ts";
import { knownSettings } from "../src/config/index.ts";
import { main } from "../src/main.ts";

const read = (page: string) => readFileSync(join(ROOT, "docs", page), "utf8");

describe("docs/configuration.md", () => {
  test("its list of every setting is the parser's list, no more and no less", () => {
    const text = read("configuration.md");
    const list = text.slice(text.indexOf("## Every setting"));
    const documented = [...list.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1]!);
    const known = knownSettings();
    expect(known.length).toBeGreaterThan(50);
    expect(documented.filter((k) => !known.includes(k))).toEqual([]); // stale rows
    expect(known.filter((k) => !documented.includes(k))).toEqual([]); // missing rows
    expect(new Set(documented).size).toBe(documented.length);
  });
});

type AnyCommand = CommandDef<ArgsDef>;
async function resolved<T>(v: T | (() => T | Promise<T>) | undefined): Promise<T | undefined> {
  return typeof v === "function" ? await (v as () => T | Promise<T>)() : v;
}

/** Every leaf command as "invited key create" with its option names. */
async function commands(cmd: AnyCommand, path: string[]): Promise<{ path: string; options: string[] }[]> {
  const subs = (await resolved(cmd.subCommands)) as Record<string, AnyCommand> | undefined;
  if (subs && Object.keys(subs).length > 0) {
    const out: { path: string; options: string[] }[] = [];
    for (const [name, sub] of Object.entries(subs)) out.push(...(await commands((await resolved(sub as never)) as unknown as AnyCommand, [...path, name])));
    return out;
  }
  const args = ((await resolved(cmd.args)) ?? {}) as ArgsDef;
  const options = Object.entries(args)
    .filter(([, def]) => (def as { type?: string }).type !== "positional")
    .flatMap(([name, def]) => ((def as { negativeDescription?: string }).negativeDescription ? [name, `no-${name}`] : [name]));
  return [{ path: path.join(" "), options }];
}

describe("docs/cli.md", () => {
  test("names every command and every option the CLI defines", async () => {
    const text = read("cli.md");
    const all = await commands(main as AnyCommand, ["invited"]);
    expect(all.length).toBeGreaterThan(15);
    const missing: string[] = [];
    for (const c of all) {
      // A command is documented under its heading or in a usage line: `invited key create HOST ...`.
      if (!text.includes(`${c.path}`)) missing.push(c.path);
      for (const o of c.options) if (!text.includes(`--${o}`)) missing.push(`${c.path} --${o}`);
    }
    expect(missing).toEqual([]);
  });

  test("mentions no option that no command defines", async () => {
    const text = read("cli.md");
    const defined = new Set((await commands(main as AnyCommand, ["invited"])).flatMap((c) => c.options));
    for (const extra of ["help", "version", "no-color"]) defined.add(extra);
    const mentioned = new Set([...text.matchAll(/(?<![\w-])--([a-z][a-z0-9-]*)/g)].map((m) => m[1]!));
    expect([...mentioned].filter((o) => !defined.has(o))).toEqual([]);
  });
});
