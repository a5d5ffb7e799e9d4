// CORS for browser clients (connect-web, gRPC-Web): allowed origins are
// configurable (none by default); the headers are connect's own lists, so
// error headers (grpc-status, grpc-message, grpc-status-details-bin) are
// exposed. A request from a disallowed origin is refused whatever its method,
// not only at preflight: a "simple" cross-origin POST reaches the server
// without one. Same-origin requests (a page the daemon serves, e.g. /console)
// are always allowed.
import { cors } from "@connectrpc/connect";
import type { HttpRequest, HttpResponse } from "./protocol-server.js";

const ALLOW_METHODS = cors.allowedMethods.join(", ");
const ALLOW_HEADERS = [...cors.allowedHeaders, "Authorization", "X-Grpc-Timeout"].join(", ");
const EXPOSE_HEADERS = cors.exposedHeaders.join(", ");
const MAX_AGE_SECONDS = "7200";

/** Matches `scheme://host:*` patterns against an origin. */
function portWildcard(pattern: string): (origin: string) => boolean {
  const base = pattern.slice(0, -2);
  return (origin) => origin === base || (origin.startsWith(`${base}:`) && /^\d{1,5}$/.test(origin.slice(base.length + 1)));
}

export class CorsPolicy {
  readonly #any: boolean;
  readonly #exact: Set<string>;
  readonly #patterns: ((origin: string) => boolean)[];

  /** `origins`: exact origins, `scheme://host:*` or `*`. */
  constructor(origins: readonly string[]) {
    this.#any = origins.includes("*");
    this.#exact = new Set(origins.filter((o) => !o.endsWith(":*") && o !== "*").map((o) => o.toLowerCase()));
    this.#patterns = origins.filter((o) => o.endsWith(":*")).map((o) => portWildcard(o.toLowerCase()));
  }

  allows(origin: string): boolean {
    if (this.#any) return true;
    const o = origin.toLowerCase();
    return this.#exact.has(o) || this.#patterns.some((match) => match(o));
  }

  /**
   * Adds CORS headers to the response of an allowed origin. Returns true when
   * the request has been answered: a preflight, or any request from an origin
   * that is not allowed (403). `sameOrigin`: the daemon's own origin for this
   * request (scheme://Host), whose requests need no CORS.
   */
  handle(req: HttpRequest, res: HttpResponse, sameOrigin: string | null): boolean {
    const origin = req.headers.origin;
    if (origin === undefined) return false;
    if (sameOrigin !== null && origin.toLowerCase() === sameOrigin.toLowerCase()) return false;
    const preflight = req.method === "OPTIONS" && req.headers["access-control-request-method"] !== undefined;
    if (!this.allows(origin)) {
      res.statusCode = 403;
      res.setHeader("content-type", "text/plain");
      res.end(`origin ${origin} is not allowed (STATEHOUSE_CORS_ORIGINS)\n`);
      return true;
    }
    res.setHeader("access-control-allow-origin", origin);
    res.setHeader("vary", "Origin");
    if (!preflight) {
      res.setHeader("access-control-expose-headers", EXPOSE_HEADERS);
      return false;
    }
    res.setHeader("access-control-allow-methods", ALLOW_METHODS);
    res.setHeader("access-control-allow-headers", ALLOW_HEADERS);
    res.setHeader("access-control-max-age", MAX_AGE_SECONDS);
    if (req.headers["access-control-request-private-network"] === "true") res.setHeader("access-control-allow-private-network", "true");
    res.statusCode = 204;
    res.end();
    return true;
  }
}
