/** The path and query of an absolute request URL ("http://host/a?b" → "/a?b"); "/" when it has no path. */
export function pathAndQuery(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  return start < 0 ? "/" : url.slice(start);
}

/** The path of an absolute request URL, without its query. */
export function pathOf(url: string): string {
  const full = pathAndQuery(url);
  const q = full.indexOf("?");
  return q < 0 ? full : full.slice(0, q);
}
