// A small "browser" for the account pages over real HTTP: it keeps cookies, sends the Origin a browser would send
// for a page served at the host's public_url, and reads the csrf field of the last page.
import { get, type TestServer } from "./helpers.ts";

export const ORIGIN = "https://example.com";

export interface Page {
  status: number;
  headers: Headers;
  text: string;
  location: string | null;
}

export class Browser {
  readonly cookies = new Map<string, string>();
  lastPage: Page | null = null;

  constructor(
    readonly server: TestServer,
    readonly origin: string | null = ORIGIN,
    readonly ip: string | null = null,
  ) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    const h: Record<string, string> = { ...extra };
    if (this.cookies.size) h.Cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
    if (this.ip) h["X-Forwarded-For"] = this.ip;
    return h;
  }

  private async keep(r: Response): Promise<Page> {
    for (const c of r.headers.getSetCookie()) {
      const [pair] = c.split(";");
      const eq = pair!.indexOf("=");
      const name = pair!.slice(0, eq);
      const value = pair!.slice(eq + 1);
      if (/Max-Age=0/i.test(c) || value === "") this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    const page = { status: r.status, headers: r.headers, text: await r.text(), location: r.headers.get("location") };
    this.lastPage = page;
    return page;
  }

  async get(path: string): Promise<Page> {
    return this.keep(await get(`${this.server.url}${path}`, { headers: this.headers() }));
  }

  /** POSTs a form; `csrf` is taken from the last page unless given (null: none sent). */
  async post(path: string, fields: Record<string, string>, opts: { csrf?: string | null; origin?: string | null; headers?: Record<string, string> } = {}): Promise<Page> {
    const body = new URLSearchParams(fields);
    const csrf = opts.csrf === undefined ? csrfOf(this.lastPage?.text ?? "") : opts.csrf;
    if (csrf !== null && csrf !== undefined && !body.has("csrf")) body.set("csrf", csrf);
    const origin = opts.origin === undefined ? this.origin : opts.origin;
    const headers = this.headers({ "Content-Type": "application/x-www-form-urlencoded", ...(origin ? { Origin: origin } : {}), ...(opts.headers ?? {}) });
    return this.keep(await get(`${this.server.url}${path}`, { method: "POST", headers, body: body.toString() }));
  }

  session(): string | undefined {
    return this.cookies.get("__Host-invited_session") ?? this.cookies.get("invited_session");
  }

  /** GET the sign-in page, then POST it. */
  async signIn(user: string, password: string): Promise<Page> {
    await this.get("/account/login");
    return this.post("/account/login", { user, password });
  }
}

export function csrfOf(html: string): string | null {
  return /name="csrf" value="([^"]*)"/.exec(html)?.[1] ?? null;
}

export function alertOf(html: string): string | null {
  return /<div class="alert" role="alert">([^<]*)<\/div>/.exec(html)?.[1] ?? null;
}

/** A signed-in browser for an account that already exists. */
export async function signedIn(server: TestServer, user: string, password: string, ip: string | null = null): Promise<Browser> {
  const b = new Browser(server, ORIGIN, ip);
  const r = await b.signIn(user, password);
  if (r.status !== 303) throw new Error(`sign-in of ${user} failed: ${r.status} ${alertOf(r.text)}`);
  return b;
}
