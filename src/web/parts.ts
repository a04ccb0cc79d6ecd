import { html, type RawHtml } from "../lib/html.ts";

/**
 * The parts every server-rendered page is built from, so a label, an error or a table looks and behaves the same on
 * every page. Knows no feature. Each input has a visible label; errors are announced (role="alert") and tied to their
 * input (aria-describedby, aria-invalid), so they work with a screen reader and by keyboard alone.
 */

export interface FieldOptions {
  /** Element id; also the label's `for`. */
  id: string;
  name: string;
  label: string;
  type?: "text" | "password" | "number" | "email";
  value?: string | number | null;
  autocomplete?: string;
  required?: boolean;
  readonly?: boolean;
  autofocus?: boolean;
  minlength?: number;
  maxlength?: number;
  min?: number;
  max?: number;
  /** Text shown inside the box, after the input (e.g. "@example.com"). */
  suffix?: string | null;
  hint?: RawHtml | string | null;
  error?: string | null;
  /** Usernames: no capitalisation or spelling correction. */
  verbatim?: boolean;
  /** The on-screen keyboard to offer (e.g. "numeric" for a one-time code). */
  inputmode?: "numeric" | "text" | "email";
  /** The box's writing direction when it is not the page's: an address (name@host) is "ltr" on an Arabic page. */
  dir?: "ltr" | "rtl";
}

/** A labelled input with its hint and its error. */
export function field(o: FieldOptions): RawHtml {
  const described = [o.error ? `${o.id}-error` : null, o.hint ? `${o.id}-hint` : null].filter(Boolean).join(" ");
  const value = o.value === null || o.value === undefined ? null : String(o.value);
  return html`<div class="field"><label for="${o.id}">${o.label}</label>
<div class="inputs"${o.dir ? html` dir="${o.dir}"` : ""}><input id="${o.id}" name="${o.name}"${value !== null ? html` value="${value}"` : ""}${o.readonly ? html` readonly` : ""} type="${o.type ?? "text"}"${
    o.autocomplete ? html` autocomplete="${o.autocomplete}"` : ""
  }${o.required ? html` required` : ""}${o.autofocus ? html` autofocus` : ""}${o.minlength !== undefined ? html` minlength="${o.minlength}"` : ""}${
    o.maxlength !== undefined ? html` maxlength="${o.maxlength}"` : ""
  }${o.min !== undefined ? html` min="${o.min}"` : ""}${o.max !== undefined ? html` max="${o.max}"` : ""}${
    o.verbatim ? html` autocapitalize="none" autocorrect="off" spellcheck="false"` : ""
  }${o.inputmode ? html` inputmode="${o.inputmode}"` : ""}${o.error ? html` aria-invalid="true"` : ""}${described ? html` aria-describedby="${described}"` : ""}>${o.suffix ? html`<span class="suffix">${o.suffix}</span>` : ""}</div>
${o.hint ? html`<div class="hint" id="${o.id}-hint">${o.hint}</div>` : ""}${o.error ? html`<div class="field-error" id="${o.id}-error" role="alert">${o.error}</div>` : ""}</div>`;
}

/** The error of a whole form, announced when the page loads. */
export function formError(text: RawHtml | string | null | undefined): RawHtml | "" {
  return text ? html`<div class="alert" role="alert">${text}</div>` : "";
}

export type FlashKind = "ok" | "error" | "info";

/** A message about what the last action did, at the top of the page. Errors are announced; the rest are polite. */
export function flash(kind: FlashKind, text: RawHtml | string): RawHtml {
  return html`<div class="flash ${kind}" role="${kind === "error" ? "alert" : "status"}">${text}</div>`;
}

/** The per-session anti-forgery token every state-changing form carries. */
export function csrfField(token: string): RawHtml {
  return html`<input type="hidden" name="csrf" value="${token}">`;
}

export interface PostButtonOptions {
  action: string;
  csrf: string;
  label: string;
  /** Extra hidden fields (e.g. which session or invite). */
  fields?: Record<string, string>;
  kind?: "primary" | "ghost" | "danger" | "ghost-danger";
  small?: boolean;
  /** Accessible name when the label alone is ambiguous in a list ("Sign out" → "Sign out the session from Firefox"). */
  ariaLabel?: string;
}

/** A one-button form: actions such as "sign out" or "revoke" are POSTs, never links. */
export function postButton(o: PostButtonOptions): RawHtml {
  const kind = o.kind ?? "primary";
  const cls = ["btn", kind === "ghost" || kind === "ghost-danger" ? "ghost" : "", kind === "danger" || kind === "ghost-danger" ? "danger" : "", o.small ? "small" : ""].filter(Boolean).join(" ");
  return html`<form method="post" action="${o.action}">${csrfField(o.csrf)}${Object.entries(o.fields ?? {}).map(
    ([k, v]) => html`<input type="hidden" name="${k}" value="${v}">`,
  )}<button class="${cls}" type="submit"${o.ariaLabel ? html` aria-label="${o.ariaLabel}"` : ""}>${o.label}</button></form>`;
}

export interface TableOptions {
  caption?: string | null;
  head: string[];
  rows: (RawHtml | string)[][];
  /** Shown instead of an empty table. */
  empty: string;
  /** On a narrow screen each row becomes a small card, each cell labelled with its column. */
  stack?: boolean;
}

/** A data table with a header row; scrolls sideways (or stacks) rather than breaking the page on a phone. */
export function table(o: TableOptions): RawHtml {
  if (o.rows.length === 0) return html`<p class="muted">${o.empty}</p>`;
  return html`<div class="table-wrap"><table class="list${o.stack ? " stack" : ""}">${o.caption ? html`<caption>${o.caption}</caption>` : ""}
<thead><tr>${o.head.map((h) => html`<th scope="col">${h}</th>`)}</tr></thead>
<tbody>${o.rows.map((r) => html`<tr>${r.map((c, i) => html`<td${o.head[i] ? html` data-label="${o.head[i]}"` : ""}>${c}</td>`)}</tr>`)}</tbody></table></div>`;
}

/** A term-and-value list (the account's facts). */
export function facts(pairs: [string, RawHtml | string][]): RawHtml {
  return html`<dl class="kv">${pairs.map(([k, v]) => html`<dt>${k}</dt><dd>${v}</dd>`)}</dl>`;
}

/** A time as people read it, in UTC (the page knows no time zone without JavaScript): "2026-12-08 14:03 UTC". */
export function humanTime(ms: number): string {
  return new Date(ms).toISOString().replace("T", " ").replace(/:\d\d\.\d{3}Z$/, " UTC");
}
