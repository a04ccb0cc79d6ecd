// The benchmark's baseline: the least an HTTP server can do for the same request, a bare Bun.serve answering 201
// with a Location header.
const port = Number(process.argv[2] ?? 0);
const server = Bun.serve({
  hostname: "127.0.0.1",
  port,
  reusePort: false,
  fetch: () => new Response(null, { status: 201, headers: { Location: "http://localhost:5380/invite?AAAAAAAAAAAAAAAAAAAAAA" } }),
});
console.log(`baseline listening on ${server.port}`);
process.on("SIGTERM", () => {
  server.stop(true);
  process.exit(0);
});
