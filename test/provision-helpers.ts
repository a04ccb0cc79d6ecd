// Real webhook receivers on loopback for the provisioning and notification tests. Every request is verified with
// the standardwebhooks library, the way a real receiver would.
import { randomBytes } from "node:crypto";
import type { Server } from "bun";
import { Webhook } from "standardwebhooks";
import { expect, test } from "bun:test";
import { cli, sandbox } from "./helpers.ts";

export function newSecret(): string {
  return `whsec_${randomBytes(32).toString("base64")}`;
}

export interface Received {
  at: number;
  headers: Record<string, string>;
  body: string;
  json: any;
  /** Which of the receiver's secrets verified the signature (null: none did). */
  verifiedWith: string | null;
}

export interface Receiver {
  url: string;
  port: number;
  received: Received[];
  /** Requests whose handler has started but not answered yet. */
  inFlight(): number;
  setHandler(h: Handler): void;
  /** Resolves when at least `n` requests have arrived (rejects after `ms`). */
  waitFor(n: number, ms?: number): Promise<Received[]>;
  stop(): void;
}

export type Handler = (req: Received) => Response | Promise<Response>;

/**
 * A Bun.serve receiver on 127.0.0.1. `secrets`: the secrets it knows; a request none of them verifies is answered
 * 401 (and recorded with verifiedWith = null). The handler decides the answer for verified requests.
 */
export function startReceiver(secrets: string[], handler: Handler = () => new Response(null, { status: 204 }), port = 0): Receiver {
  const received: Received[] = [];
  let current = handler;
  let active = 0;
  const server: Server<undefined> = Bun.serve({
    hostname: "127.0.0.1",
    port,
    idleTimeout: 60,
    async fetch(request) {
      active++;
      try {
        const body = await request.text();
        const headers: Record<string, string> = {};
        request.headers.forEach((v, k) => (headers[k] = v));
        let verifiedWith: string | null = null;
        for (const s of secrets) {
          try {
            new Webhook(s).verify(body, headers);
            verifiedWith = s;
            break;
          } catch {}
        }
        let json: unknown = null;
        try {
          json = JSON.parse(body);
        } catch {}
        const rec: Received = { at: Date.now(), headers, body, json, verifiedWith };
        received.push(rec);
        if (!verifiedWith) return new Response("bad signature", { status: 401 });
        return await current(rec);
      } finally {
        active--;
      }
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}/hook`,
    port: server.port!,
    received,
    inFlight: () => active,
    setHandler: (h) => (current = h),
    async waitFor(n, ms = 15_000) {
      const deadline = Date.now() + ms;
      while (received.length < n) {
        if (Date.now() > deadline) throw new Error(`receiver got ${received.length} request(s), expected ${n}`);
        await Bun.sleep(20);
      }
      return received;
    },
    stop: () => server.stop(true),
  };
}

/** Polls `check` until it returns a truthy value (or throws after `ms`). */
export async function eventually<T>(check: () => T | Promise<T>, ms = 15_000, what = "condition"): Promise<NonNullable<T>> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
    await Bun.sleep(25);
  }
}

/**
 * One test per case: a host whose `[hosts."example.com".provision]` table is `body` must make every command exit 2
 * with a message matching `message`, and no stack trace.
 */
export function provisionConfigErrorTests(cases: [name: string, body: string, message: RegExp][]): void {
  for (const [name, body, message] of cases) {
    test(name, async () => {
      const sb = sandbox(`[hosts."example.com"]\npublic_url = "https://example.com"\n[hosts."example.com".provision]\n${body}\n`);
      try {
        const r = await cli(["invite", "list", "example.com"], { config: sb.config });
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(message);
        expect(r.stderr).not.toMatch(/\n\s+at /);
      } finally {
        sb.cleanup();
      }
    });
  }
}

export interface Relay {
  port: number;
  /** Called once, before the first 200 answer to a request whose first line starts with `requestStart` is passed on. */
  beforeAnswer(requestStart: string, action: () => Promise<void>): void;
  stop(): void;
}

/**
 * A plain TCP relay on loopback in front of a real server, to stop that server at an exact point of an exchange
 * (between two of a client's requests). Bytes pass unchanged; a connection to a stopped server is closed unanswered.
 */
export function startRelay(upstreamPort: number): Relay {
  let hook: { start: string; action: () => Promise<void> } | null = null;
  type Pipe = { upstream: Promise<import("bun").Socket<undefined> | null>; request: string; checked: boolean; out: Promise<void> };
  const listener = Bun.listen<Pipe>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(client) {
        const pipe: Pipe = { request: "", checked: false, upstream: Promise.resolve(null), out: Promise.resolve() };
        client.data = pipe;
        pipe.upstream = Bun.connect({
          hostname: "127.0.0.1",
          port: upstreamPort,
          socket: {
            data(_up, chunk) {
              const copy = new Uint8Array(chunk);
              // In order, even while an action holds the first chunk back.
              pipe.out = pipe.out.then(async () => {
                if (!pipe.checked) {
                  pipe.checked = true;
                  const h = hook;
                  if (h && pipe.request.startsWith(h.start) && new TextDecoder().decode(copy.subarray(0, 16)).startsWith("HTTP/1.1 200")) {
                    hook = null;
                    await h.action();
                  }
                }
                client.write(copy);
              });
            },
            close: () => void (pipe.out = pipe.out.then(() => void client.end())),
            error: () => void (pipe.out = pipe.out.then(() => void client.end())),
          },
        }).catch(() => {
          client.end();
          return null;
        });
      },
      async data(client, chunk) {
        client.data.request += new TextDecoder().decode(chunk);
        (await client.data.upstream)?.write(chunk);
      },
      async close(client) {
        (await client.data?.upstream)?.end();
      },
    },
  });
  return {
    port: listener.port,
    beforeAnswer: (start, action) => (hook = { start, action }),
    stop: () => listener.stop(true),
  };
}
