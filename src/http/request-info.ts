import type { Origin } from "../context.ts";

/** Per-request facts the outer server works out before Elysia routes the request. */
export interface RequestInfo {
  ip: string | null;
  startedAt: number;
  /** The route pattern Elysia matched (e.g. "/invites_api"), for metrics; unset when nothing matched. */
  route?: string | null;
}

const infos = new WeakMap<Request, RequestInfo>();

export function setRequestInfo(request: Request, info: RequestInfo): void {
  infos.set(request, info);
}

export function setMatchedRoute(request: Request, route: string | null | undefined): void {
  const info = infos.get(request);
  if (info && route) info.route = route;
}

export function matchedRoute(request: Request): string | null {
  return infos.get(request)?.route ?? null;
}

export function clientIp(request: Request): string | null {
  return infos.get(request)?.ip ?? null;
}

/** The audit origin of an HTTP request: source `api` or `web`, the actor, the client IP and user agent. */
export function requestOrigin(request: Request, source: "api" | "web", actor: string | null): Origin {
  const ua = request.headers.get("user-agent");
  return { source, actor, ip: clientIp(request), userAgent: ua ? ua.slice(0, 512) : null };
}
