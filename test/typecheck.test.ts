// The whole project typechecks in strict mode (tsconfig.json): a type error fails the suite like a failing test.
import { expect, test } from "bun:test";
import { join } from "node:path";
import { ROOT } from "./helpers.ts";

test("tsc --noEmit passes", () => {
  const r = Bun.spawnSync([join(ROOT, "node_modules/.bin/tsc"), "--noEmit", "-p", ROOT], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  expect(r.stdout.toString() + r.stderr.toString()).toBe("");
  expect(r.exitCode).toBe(0);
}, 120_000);
