import { Elysia } from "elysia";
import type { AppContext } from "../context.ts";
import { accountPaths } from "./frame.ts";
import { loginPages } from "./login.ts";
import { homePages } from "./home.ts";
import { passwordPages } from "./password.ts";
import { invitePages } from "./invites.ts";

/** Every page under [server] account_path, one area per file. */
export function accountPages(ctx: AppContext) {
  const paths = accountPaths(ctx);
  return new Elysia({ name: "account" })
    .use(loginPages(ctx, paths))
    .use(homePages(ctx, paths))
    .use(passwordPages(ctx, paths))
    .use(invitePages(ctx, paths));
}
