import type { Origin } from "../context.ts";

/** Per-request facts the outer server works out before Elysia routes the request. */
export interface RequestInfo {
  ip: string | null;
  startedAt: number;
}

const infos = new WeakMap<Request, RequestInfo>();

export function setRequestInfo(request: Request, info: RequestInfo): void {
  infos.set(request, info);
}

export function clientIp(request: Request): string | null {
  return infos.get(request)?.ip ?? null;
}

/** The audit origin of an HTTP request: source `api` or `web`, the actor, the client IP and user agent. */
export function requestOrigin(request: Request, source: "api" | "web", actor: string | null): Origin {
  const ua = request.headers.get("user-agent");
  return { source, actor, ip: clientIp(request), userAgent: ua ? ua.slice(0, 512) : null };
}
