// No import circles under src/, type-only imports included (issue 16): a circle makes module start-up order
// matter and ties layers together that should not know each other. This reads every import and re-export.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { Glob } from "bun";
import { ROOT } from "./helpers.ts";

const SRC = join(ROOT, "src");
const IMPORT_RE = /^\s*(?:import|export)\b[^;]*?\bfrom\s*["']([^"']+)["']|^\s*import\s*["']([^"']+)["']/gm;

function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of new Glob("**/*.ts").scanSync(SRC)) {
    const abs = join(SRC, file);
    const text = readFileSync(abs, "utf8");
    const deps: string[] = [];
    for (const m of text.matchAll(IMPORT_RE)) {
      const spec = m[1] ?? m[2]!;
      if (!spec.startsWith(".") || !spec.endsWith(".ts")) continue;
      deps.push(relative(SRC, resolve(dirname(abs), spec)));
    }
    graph.set(file, deps);
  }
  return graph;
}

/** Every elementary circle found by a depth-first search, each reported once from its smallest file name. */
function circles(graph: Map<string, string[]>): string[][] {
  const found = new Map<string, string[]>();
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (node: string) => {
    state.set(node, "open");
    stack.push(node);
    for (const dep of graph.get(node) ?? []) {
      if (state.get(dep) === "open") {
        const cycle = stack.slice(stack.indexOf(dep));
        const start = cycle.indexOf([...cycle].sort()[0]!);
        const canonical = [...cycle.slice(start), ...cycle.slice(0, start)];
        found.set(canonical.join(" → "), canonical);
      } else if (!state.has(dep)) visit(dep);
    }
    stack.pop();
    state.set(node, "done");
  };
  for (const node of [...graph.keys()].sort()) if (!state.has(node)) visit(node);
  return [...found.values()];
}

describe("import graph", () => {
  test("the graph is read: main.ts reaches the features", () => {
    const graph = importGraph();
    expect(graph.size).toBeGreaterThan(50);
    expect(graph.get("main.ts")!.length).toBeGreaterThan(3);
    // The finder finds a circle when there is one.
    expect(circles(new Map([["a.ts", ["b.ts"]], ["b.ts", ["c.ts"]], ["c.ts", ["a.ts"]]]))).toEqual([["a.ts", "b.ts", "c.ts"]]);
  });

  test("no circles under src/", () => {
    const found = circles(importGraph()).map((c) => [...c, c[0]].join(" → "));
    expect(found).toEqual([]);
  });
});
