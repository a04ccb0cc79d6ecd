// The benchmark's baseline: the least an HTTP server can do for the same request, a bare Bun.serve answering 201
// with a Location header, or (GET /page?bytes=N) 200 with an HTML body of N bytes, as a page answer would.
const port = Number(process.argv[2] ?? 0);
const pages = new Map<number, string>();
const server = Bun.serve({
  hostname: "127.0.0.1",
  port,
  reusePort: false,
  fetch: (request) => {
    const url = new URL(request.url);
    if (url.pathname === "/page") {
      const bytes = Math.min(1 << 20, Number(url.searchParams.get("bytes") ?? 0));
      let body = pages.get(bytes);
      if (body === undefined) pages.set(bytes, (body = "<!doctype html>" + "x".repeat(Math.max(0, bytes - 15))));
      return new Response(body, { headers: { "Content-Type": "text/html; charset=utf-8" } });
    }
    return new Response(null, { status: 201, headers: { Location: "http://localhost:5380/invite?AAAAAAAAAAAAAAAAAAAAAA" } });
  },
});
console.log(`baseline listening on ${server.port}`);
process.on("SIGTERM", () => {
  server.stop(true);
  process.exit(0);
});
