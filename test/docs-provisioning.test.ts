// Every invited config block in docs/provisioning/ loads as it is written (with its secret files present): a config
// copied from the docs must not be a config error. The pages' claims about what is proven name real test files.
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, cli, sandbox } from "./helpers.ts";
import { newSecret } from "./provision-helpers.ts";

const DOCS = join(ROOT, "docs/provisioning");
const pages = readdirSync(DOCS).filter((f) => f.endsWith(".md"));
// The index page, docs/provisioning.md, is checked like the others.
const files = [...pages.map((p) => join(DOCS, p)), join(ROOT, "docs/provisioning.md")];

describe("docs/provisioning", () => {
  test("has a page per downstream, and the README points to it", () => {
    for (const page of ["command.md", "webhook.md", "ejabberd.md", "ldap.md", "synapse.md"]) expect(pages).toContain(page);
    const index = readFileSync(join(ROOT, "docs/provisioning.md"), "utf8");
    for (const page of pages) expect(index).toContain(`(provisioning/${page}`);
    expect(readFileSync(join(ROOT, "README.md"), "utf8")).toContain("(docs/provisioning.md)");
  });

  for (const file of files) {
    const page = file.slice(ROOT.length + 1);
    const text = readFileSync(file, "utf8");
    const blocks = [...text.matchAll(/```toml\n([\s\S]*?)```/g)].map((m) => m[1]!).filter((b) => b.includes(".provision]"));
    for (const [i, block] of blocks.entries()) {
      test(`${page} config ${i + 1} loads`, async () => {
        const sb = sandbox();
        try {
          // The secret files it names, as an admin would have made them.
          let toml = block.replace(/"(\/etc\/invited\/[^"]+)"/g, (_, file: string) => {
            const local = join(sb.dir, file.replaceAll("/", "_"));
            writeFileSync(local, "a secret\n");
            return JSON.stringify(local);
          });
          toml = toml.replace(/"whsec_\.\.\."/g, JSON.stringify(newSecret()));
          const host = /\[hosts\."([^"]+)"\.provision\]/.exec(toml)![1]!;
          writeFileSync(sb.config, readFileSync(sb.config, "utf8").replace(/\[hosts\.[\s\S]*$/, "") + `[hosts."${host}"]\npublic_url = "https://${host}"\n\n${toml}`);
          const r = await cli(["invite", "list", host], { config: sb.config });
          // Read-only commands need no database; what matters is that the config loads (a config error exits 2).
          expect(`${r.code} ${r.stderr}`).not.toMatch(/^2 |config error/);
          expect(r.stderr).not.toMatch(/\n\s+at /);
        } finally {
          sb.cleanup();
        }
      });
    }
  }

  test("every test file the pages cite exists", () => {
    for (const page of files) {
      for (const m of readFileSync(page, "utf8").matchAll(/`(test\/[\w.-]+\.test\.ts)`/g)) expect(`${page}: ${m[1]} ${existsSync(join(ROOT, m[1]!))}`).toBe(`${page}: ${m[1]} true`);
    }
  });
});
