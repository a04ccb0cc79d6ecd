// npm run build: regenerates the embedded-migrations module, then compiles one self-contained bytecode executable.
import { $ } from "bun";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { renderMigrationsModule } from "./embed-migrations.ts";

const root = join(import.meta.dir, "..");
writeFileSync(join(root, "src/db/migrations.generated.ts"), renderMigrationsModule());

const commit = (await $`git -C ${root} rev-parse --short HEAD`.nothrow().quiet()).stdout.toString().trim() || "unknown";
const build = `${commit} ${new Date().toISOString().slice(0, 10)} bun ${Bun.version}`;
const out = process.env.INVITED_OUT ?? join(root, "dist/invited");

await $`${process.execPath} build ${join(root, "src/main.ts")} --compile --bytecode --minify-whitespace --minify-syntax --no-compile-autoload-dotenv --define ${`INVITED_BUILD=${JSON.stringify(build)}`} --outfile ${out}`.cwd(root);
console.log(`built ${out} (${build})`);
