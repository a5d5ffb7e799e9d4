// CORS for browser clients (connect-web, gRPC-Web): allowed origins are
// configurable; the headers are connect's own lists, so error headers
// (grpc-status, grpc-message, grpc-status-details-bin) are exposed.
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
   * the request was a preflight and has been answered.
   */
  handle(req: HttpRequest, res: HttpResponse): boolean {
    const origin = req.headers.origin;
    if (origin === undefined) return false;
    const preflight = req.method === "OPTIONS" && req.headers["access-control-request-method"] !== undefined;
    if (!this.allows(origin)) {
      if (!preflight) return false;
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
