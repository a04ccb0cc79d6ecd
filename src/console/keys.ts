import { Elysia } from "elysia";
import type { AppContext } from "../context.ts";
import { html, type RawHtml } from "../lib/html.ts";
import { formatDuration, parseDuration } from "../lib/duration.ts";
import { relativePath, trailingSlashRedirect } from "../web/layout.ts";
import { csrfField, field, formError, humanTime, postButton, table } from "../web/parts.ts";
import { KeyOptionError, SCOPES, createApiKey, deleteApiKey, isScope, keyScopes, listApiKeys, rotateApiKey, setApiKeyDisabled, type ApiKey } from "../keys/service.ts";
import { countryName, confirmPage, consolePage, params, adminProblem, readAdminPost, requireAdmin, seeOther, type Admin, type ConsolePaths } from "./frame.ts";

/**
 * ADMIN_PATH/keys: create (the secret shown once), list with scopes, ceilings, expiry and last use (time, address and
 * its country looked up now), disable/enable, rotate with a grace period, delete. Destructive ones ask again.
 */

const ACTIONS = ["disable", "enable", "rotate", "delete"] as const;

class FieldError extends Error {}

function duration(text: string, error: string): number | null {
  const t = text.trim();
  if (!t) return null;
  const ms = parseDuration(t);
  if (ms === null) throw new FieldError(error);
  return ms;
}

export function keyPages(ctx: AppContext, paths: ConsolePaths) {
  const path = paths.keys;
  const actionPath = `${path}/action`;

  const page = (admin: Admin, o: { secret?: string; error?: string | null; status?: number; notice?: string | null } = {}) => {
    const M = admin.T;
    const now = Date.now();
    const rows = listApiKeys(ctx, admin.host.name).map((k: ApiKey): (RawHtml | string)[] => {
      const loc = k.lastUsedIp ? ctx.geoip.lookup(k.lastUsedIp) : null;
      const ceilings = [k.maxTtl ? M.keys.ceilingTtl(formatDuration(k.maxTtl)) : "", k.maxUses ? M.keys.ceilingUses(k.maxUses) : "", k.rate ? M.keys.ceilingRate(k.rate) : ""].filter(Boolean).join(", ") || "-";
      const act = (action: (typeof ACTIONS)[number], label: string, kind: "ghost" | "ghost-danger") =>
        postButton({ action: relativePath(path, actionPath), csrf: admin.csrf, label, fields: { id: k.id, action }, kind, small: true, ariaLabel: `${label} ${k.id}` });
      const expired = k.expiresAt !== null && now >= k.expiresAt;
      return [
        html`<span class="mono">${k.id}</span>${k.name ? html`<span class="note">${k.name}</span>` : ""}`,
        html`${keyScopes(k).map((s) => html`<span class="mono">${s}</span> `)}`,
        ceilings,
        k.expiresAt ? humanTime(k.expiresAt) : M.common.never,
        k.lastUsedAt ? html`${humanTime(k.lastUsedAt)}<span class="note">${k.lastUsedIp ?? ""}${loc ? ` · ${countryName(admin, loc.countryCode)}` : ""}</span>` : M.common.never,
        k.disabled ? html`<span class="pill bad">${M.keys.states.disabled}</span>` : expired ? html`<span class="pill warn">${M.keys.states.expired}</span>` : html`<span class="pill ok">${M.keys.states.on}</span>`,
        html`<div class="actions">${k.disabled ? act("enable", M.keys.enable, "ghost") : act("disable", M.keys.disable, "ghost-danger")}${act("rotate", M.keys.rotate, "ghost")}${act("delete", M.keys.del, "ghost-danger")}</div>`,
      ];
    });
    const created = o.secret
      ? html`<section><div class="flash ok" role="status">${M.keys.created}</div><div class="field"><label for="secret">${M.keys.secret}</label><div class="inputs"><input id="secret" value="${o.secret}" readonly></div></div><button class="btn ghost small" type="button" data-copy="secret" hidden>${M.invites.copy}</button></section>`
      : "";
    const body = html`<h1>${M.keys.title}</h1>${formError(o.error)}${created}
<details class="platform"${o.error ? html` open` : ""}><summary>${M.keys.create}</summary><div class="nested">
<form method="post" action="${relativePath(path, path)}" accept-charset="utf-8">${csrfField(admin.csrf)}
<div class="grid2">${field({ id: "name", name: "name", label: M.keys.name, maxlength: 200 })}${field({ id: "expires", name: "expires", label: M.keys.expires, maxlength: 20, verbatim: true })}
${field({ id: "max_ttl", name: "max_ttl", label: M.keys.maxTtl, maxlength: 20, verbatim: true })}${field({ id: "max_uses", name: "max_uses", label: M.keys.maxUses, type: "number", min: 1, max: 1_000_000 })}
${field({ id: "rate", name: "rate", label: M.keys.rate, maxlength: 20, verbatim: true })}</div>
<fieldset class="field"><legend>${M.keys.scopes}</legend>${SCOPES.map((s) => html`<label class="check"><input type="checkbox" name="scope" value="${s}"${s === "invite:create" ? html` checked` : ""}> <span class="mono">${s}</span></label>`)}</fieldset>
<button class="btn" type="submit">${M.keys.createButton}</button></form></div></details>
<section>${table({ head: [...M.keys.head, ""], rows, empty: M.keys.empty, stack: true })}</section>`;
    return consolePage({ paths, path, title: M.keys.title, body, admin, language: admin.language, status: o.status, notice: o.notice ? { kind: "ok", text: o.notice } : null });
  };

  const show = async ({ request }: { request: Request }) => {
    const canonical = trailingSlashRedirect(request, path);
    if (canonical) return canonical;
    const admin = await requireAdmin(ctx, request, paths, path);
    if (admin instanceof Response) return admin;
    const M = admin.T;
    const done = params(request).get("done");
    return page(admin, { notice: done ? M.keys.done[done] ?? null : null });
  };

  const create = async ({ request }: { request: Request }) => {
    const post = await readAdminPost(ctx, request, paths, path);
    if (post instanceof Response) return post;
    const { admin, fields } = post;
    const M = admin.T;
    const f = (k: string) => (fields.single.get(k) ?? "").trim();
    try {
      const scopes = fields.list("scope");
      for (const s of scopes) if (!isScope(s)) throw new KeyOptionError(`unknown scope '${s.slice(0, 64)}' (known: ${SCOPES.join(", ")})`);
      const expires = duration(f("expires"), M.keys.errors.expires);
      const maxUsesText = f("max_uses");
      if (maxUsesText && !/^\d{1,7}$/.test(maxUsesText)) throw new FieldError(M.keys.errors.maxUses);
      const { secret } = await createApiKey(ctx, admin.origin, {
        host: admin.host.name,
        name: f("name") || null,
        scopes: scopes.length ? (scopes as never) : undefined,
        expiresAt: expires === null ? null : Date.now() + expires,
        maxTtl: duration(f("max_ttl"), M.keys.errors.maxTtl),
        maxUses: maxUsesText ? Number(maxUsesText) : null,
        rate: f("rate") || null,
      });
      return page(admin, { secret, status: 201 });
    } catch (e) {
      if (e instanceof KeyOptionError || e instanceof FieldError) return page(admin, { error: e.message, status: 400 });
      throw e;
    }
  };

  const action = async ({ request }: { request: Request }) => {
    const post = await readAdminPost(ctx, request, paths, actionPath);
    if (post instanceof Response) return post;
    const { admin, fields } = post;
    const M = admin.T;
    const id = fields.single.get("id") ?? "";
    const what = ACTIONS.find((a) => a === fields.single.get("action"));
    const key = listApiKeys(ctx, admin.host.name).find((k) => k.id === id);
    if (!key || !what) return adminProblem(paths, actionPath, 404, admin, M.refused.notFoundTitle, M.refused.notFound);
    const confirmed = fields.single.get("confirm") === "yes";
    if (what === "enable") {
      await setApiKeyDisabled(ctx, admin.origin, admin.host.name, id, false);
      return seeOther(actionPath, path, "?done=enabled");
    }
    if (!confirmed) {
      const q = what === "delete" ? M.keys.deleteConfirm(id) : what === "rotate" ? M.keys.rotateConfirm(id) : M.keys.disableConfirm(id);
      if (what !== "rotate") return confirmPage(paths, actionPath, admin, q, { id, action: what }, path);
      // Rotation asks for its grace period on the confirmation page.
      const body = html`<h1>${M.confirm.title}</h1><p class="lead">${q}</p><form method="post" action="${relativePath(actionPath, actionPath)}">${csrfField(admin.csrf)}<input type="hidden" name="id" value="${id}"><input type="hidden" name="action" value="rotate"><input type="hidden" name="confirm" value="yes">
${field({ id: "grace", name: "grace", label: M.keys.grace, value: "1h", maxlength: 20, verbatim: true })}<div class="actions"><button class="btn danger small" type="submit">${M.confirm.yes}</button><a class="btn ghost small" href="${relativePath(actionPath, path)}">${M.confirm.cancel}</a></div></form>`;
      return consolePage({ paths, path: actionPath, title: M.confirm.title, body, admin, language: admin.language });
    }
    try {
      if (what === "delete") {
        await deleteApiKey(ctx, admin.origin, admin.host.name, id);
        return seeOther(actionPath, path, "?done=deleted");
      }
      if (what === "disable") {
        await setApiKeyDisabled(ctx, admin.origin, admin.host.name, id, true);
        return seeOther(actionPath, path, "?done=disabled");
      }
      const grace = (fields.single.get("grace") ?? "").trim();
      const graceMs = grace === "" || grace === "0" ? 0 : parseDuration(grace);
      if (graceMs === null) throw new FieldError(M.keys.errors.grace);
      const rotated = await rotateApiKey(ctx, admin.origin, admin.host.name, id, graceMs);
      return page(admin, { secret: rotated?.secret, status: 201 });
    } catch (e) {
      if (e instanceof KeyOptionError || e instanceof FieldError) return page(admin, { error: e.message, status: 400 });
      throw e;
    }
  };

  return new Elysia({ name: "console-keys" }).get(path, show).post(path, create, { parse: "none" }).post(actionPath, action, { parse: "none" });
}
