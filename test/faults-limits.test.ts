// Slow and oversized clients are cut off by limits, and the server keeps answering everyone else meanwhile.
// Limits (documented in the README): request head 16 KiB (431), head must arrive within ~10 s of connecting,
// body > server.max_body_size (413), idle keep-alive and trickling bodies closed after server.idle_timeout.
import { describe, expect, test } from "bun:test";
import { createKey, get, sandbox, startServer, type TestServer } from "./helpers.ts";

interface RawConn {
  received: string;
  closedAfter: number | null; // ms from connect to close by the server
  socket: { write(data: string | Uint8Array): number; end(): void } | null;
}

/** Opens a raw TCP connection and runs `plan` on it (which may write slowly); records what comes back and when it closes. */
async function rawConn(port: number, plan: (write: (s: string) => void, conn: RawConn) => void): Promise<RawConn> {
  const started = performance.now();
  const conn: RawConn = { received: "", closedAfter: null, socket: null };
  await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      open(s) {
        conn.socket = s;
        plan((data) => {
          if (conn.closedAfter === null) s.write(data);
        }, conn);
      },
      data(_s, chunk) {
        conn.received += new TextDecoder().decode(chunk);
      },
      close() {
        conn.closedAfter ??= performance.now() - started;
      },
      error() {
        conn.closedAfter ??= performance.now() - started;
      },
    },
  });
  return conn;
}

/** Writes `text` one byte every `everyMs` until done or the connection closes; returns the timer. */
function trickle(write: (s: string) => void, conn: RawConn, text: string, everyMs: number): void {
  let i = 0;
  const timer = setInterval(() => {
    if (conn.closedAfter !== null || i >= text.length) return clearInterval(timer);
    write(text[i++]!);
  }, everyMs);
}

async function waitClosed(conns: RawConn[], maxMs: number): Promise<void> {
  const deadline = performance.now() + maxMs;
  while (conns.some((c) => c.closedAfter === null) && performance.now() < deadline) await Bun.sleep(50);
}

describe("limits against slow and oversized clients", () => {
  test("slowloris heads, silent and idle connections and trickling bodies are closed; others are served meanwhile", async () => {
    const sb = sandbox();
    await Bun.write(sb.config, (await Bun.file(sb.config).text()).replace("[server]\n", '[server]\nidle_timeout = "2s"\n'));
    const server = await startServer(sb);
    try {
      const key = await createKey(sb);
      const head = `GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Padding: ${"a".repeat(200)}\r\n\r\n`;
      const slowHeads = await Promise.all(Array.from({ length: 40 }, () => rawConn(server.port, (w, c) => trickle(w, c, head, 100))));
      const silent = await Promise.all(Array.from({ length: 10 }, () => rawConn(server.port, () => {})));
      const slowBodies = await Promise.all(
        Array.from({ length: 10 }, () =>
          rawConn(server.port, (w, c) => {
            w(`POST /invites_api HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${key}\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n`);
            trickle(w, c, "b".repeat(1000), 100);
          }),
        ),
      );
      const idleKeepAlive = await Promise.all(Array.from({ length: 10 }, () => rawConn(server.port, (w) => w("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"))));

      // While all of that hangs on, ordinary clients are served promptly.
      for (let i = 0; i < 20; i++) {
        const t = performance.now();
        expect((await get(`${server.url}/invites_api`, { headers: { Authorization: `Bearer ${key}` } })).status).toBe(201);
        expect(performance.now() - t).toBeLessThan(1000);
        await Bun.sleep(100);
      }

      await waitClosed([...slowHeads, ...silent, ...slowBodies, ...idleKeepAlive], 25_000);
      // Heads that trickle in are cut off at Bun's fixed header deadline (~10 s, checked every 4 s), long before the
      // 21 s this head would take, and are never answered.
      for (const c of [...slowHeads, ...silent]) {
        expect(c.closedAfter).not.toBeNull();
        expect(c.closedAfter!).toBeLessThan(16_000);
        expect(c.received).toBe("");
      }
      // A body trickling after its head, and an idle keep-alive connection: closed after idle_timeout (2 s, again
      // with a few seconds of timer granularity), not after the 100 s the body would take.
      for (const c of [...slowBodies, ...idleKeepAlive]) {
        expect(c.closedAfter).not.toBeNull();
        expect(c.closedAfter!).toBeLessThan(8_000);
      }
      for (const c of idleKeepAlive) expect(c.received).toMatch(/^HTTP\/1\.1 200 /);
      expect((await get(`${server.url}/healthz`)).status).toBe(200);
    } finally {
      expect(await server.stop()).toBe(0);
      sb.cleanup();
    }
  }, 60_000);

  test("bodies above max_body_size get 413, heads above 16 KiB get 431", async () => {
    const sb = sandbox();
    const server: TestServer = await startServer(sb);
    try {
      const key = await createKey(sb);
      const auth = { Authorization: `Bearer ${key}` };
      const max = 1024 * 1024; // server.max_body_size default

      const atLimit = await get(`${server.url}/invites_api`, { method: "POST", headers: { ...auth, "Content-Type": "application/octet-stream" }, body: new Uint8Array(max) });
      expect(atLimit.status).toBe(201);
      const over = await get(`${server.url}/invites_api`, { method: "POST", headers: { ...auth, "Content-Type": "application/octet-stream" }, body: new Uint8Array(max + 1) });
      expect(over.status).toBe(413);

      // A chunked body has no length up front: Bun counts it as it is read, and a route that reads its body gets
      // 413 past the limit. /invites_api never reads a body, so there the oversized stream is simply ignored.
      let sent = 0;
      const stream = new ReadableStream({
        pull(c) {
          if (sent++ < 17) c.enqueue(new Uint8Array(64 * 1024)); // 17 × 64 KiB > 1 MiB
          else c.close();
        },
      });
      const chunked = await get(`${server.url}/invites_api`, { method: "POST", headers: auth, body: stream });
      expect([201, 413]).toContain(chunked.status);

      const bigHead = await rawConn(server.port, (w) => w(`GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: ${"h".repeat(17 * 1024)}\r\n\r\n`));
      await waitClosed([bigHead], 5000);
      expect(bigHead.received).toMatch(/^HTTP\/1\.1 431 /);
      const manyHeaders = await rawConn(server.port, (w) => w(`GET /healthz HTTP/1.1\r\nHost: localhost\r\n${Array.from({ length: 500 }, (_, i) => `X-H${i}: ${"v".repeat(30)}\r\n`).join("")}\r\n`));
      await waitClosed([manyHeaders], 5000);
      expect(manyHeaders.received).toMatch(/^HTTP\/1\.1 431 /);
      // Just under the limit is fine.
      const okHead = await get(`${server.url}/healthz`, { headers: { "X-Big": "h".repeat(15 * 1024) } });
      expect(okHead.status).toBe(200);

      // Oversized requests are not counted as invites and the server carries on.
      expect((await get(`${server.url}/invites_api`, { headers: auth })).status).toBe(201);
    } finally {
      expect(await server.stop()).toBe(0);
      sb.cleanup();
    }
  }, 30_000);
});
