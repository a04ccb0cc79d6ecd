// The page kit (src/web): every part escapes what it is given, ties errors and hints to their input, and the
// stylesheet the pages carry is the one the CSP allows.
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { CONTENT_SECURITY_POLICY, STYLE, formPageHeaders, pageHeaders, renderPage } from "../src/web/layout.ts";
import { fixedLanguage } from "../src/i18n/index.ts";
import { csrfField, field, flash, formError, postButton, table } from "../src/web/parts.ts";
import { qrCode } from "../src/web/qr.ts";
import { html } from "../src/lib/html.ts";

const EVIL = `"><script>alert(1)</script>`;

describe("page kit", () => {
  test("a field has a label for its input, and its error and hint are announced and tied to it", () => {
    const out = field({ id: "user", name: "user", label: "Username", value: EVIL, error: "Please type it", hint: "no spaces", autocomplete: "username" }).value;
    expect(out).toContain('<label for="user">Username</label>');
    expect(out).toContain('id="user" name="user" value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" type="text"');
    expect(out).toContain('aria-invalid="true"');
    expect(out).toContain('aria-describedby="user-error user-hint"');
    expect(out).toContain('<div class="field-error" id="user-error" role="alert">Please type it</div>');
    expect(out).not.toContain("<script>");
    expect(out).toContain("&quot;&gt;&lt;script&gt;");
    // Without an error nothing claims to be invalid.
    const clean = field({ id: "p", name: "password", label: "Password", type: "password" }).value;
    expect(clean).not.toContain("aria-invalid");
    expect(clean).not.toContain("aria-describedby");
    expect(clean).not.toContain("value=");
  });

  test("form errors, flashes, csrf fields, buttons and tables escape their text", () => {
    expect(formError(EVIL).toString()).toBe('<div class="alert" role="alert">&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;</div>');
    expect(formError(null)).toBe("");
    expect(flash("ok", "Saved").value).toBe('<div class="flash ok" role="status">Saved</div>');
    expect(flash("error", "No").value).toContain('role="alert"');
    expect(csrfField(EVIL).value).toBe('<input type="hidden" name="csrf" value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;">');
    const button = postButton({ action: "./logout", csrf: "tok", label: "Sign out", fields: { session: EVIL }, kind: "ghost-danger", small: true }).value;
    expect(button).toContain('<form method="post" action="./logout"><input type="hidden" name="csrf" value="tok">');
    expect(button).toContain('class="btn ghost danger small"');
    expect(button).not.toContain("<script>");
    const t = table({ head: ["When", "What"], rows: [[EVIL, html`<b>ok</b>`]], empty: "nothing", stack: true }).value;
    expect(t).toContain('<th scope="col">When</th>');
    expect(t).toContain('<td data-label="What"><b>ok</b></td>');
    expect(t).not.toContain("<script>");
    expect(table({ head: ["a"], rows: [], empty: "No invites yet." }).value).toBe('<p class="muted">No invites yet.</p>');
  });

  test("the CSP allows exactly the inline stylesheet; form pages ask for same-origin referrers", () => {
    const hash = createHash("sha256").update(STYLE).digest("base64");
    expect(CONTENT_SECURITY_POLICY).toContain(`style-src 'sha256-${hash}'`);
    expect(CONTENT_SECURITY_POLICY).toContain("default-src 'none'");
    expect(CONTENT_SECURITY_POLICY).toContain("form-action 'self'");
    expect(pageHeaders()["Referrer-Policy"]).toBe("no-referrer");
    expect(formPageHeaders()["Referrer-Policy"]).toBe("same-origin");
    expect(formPageHeaders()["Content-Security-Policy"]).toBe(CONTENT_SECURITY_POLICY);
    const page = renderPage({ title: EVIL, path: "/account/invites", brand: "example.com", body: html`<p>x</p>`, nav: html`<nav class="topnav">n</nav>`, language: fixedLanguage("en") });
    expect(page).toContain(`<style>${STYLE}</style>`);
    expect(page).toContain('href="../assets/invited.svg"');
    expect(page).toContain('<nav class="topnav">n</nav>\n<main class="card">');
    expect(page).not.toContain("<script>");
  });

  test("the QR code is inline SVG with an accessible name", () => {
    const svg = qrCode("https://example.com/invite?abc", 'QR code "x"').value;
    expect(svg.startsWith('<svg role="img" aria-label="QR code x" ')).toBe(true);
  });
});
