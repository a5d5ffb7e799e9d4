// The Host header check that defeats DNS rebinding: a page on
// http://evil.example whose name was re-pointed at 127.0.0.1 still sends
// "Host: evil.example", and is refused. Allowed by default: IP literals
// (a request naming an address is never a rebinding) and loopback names
// (localhost, *.localhost); anything else only when listed in
// --allowed-hosts (exact names, "*.example.com" for subdomains, "*" for any).
import { isIP } from "node:net";

export class HostPolicy {
  readonly #any: boolean;
  readonly #exact: Set<string>;
  readonly #suffixes: string[];

  constructor(allowedHosts: readonly string[]) {
    const names = allowedHosts.map((h) => h.toLowerCase());
    this.#any = names.includes("*");
    this.#exact = new Set(names.filter((h) => !h.startsWith("*")));
    this.#suffixes = names.filter((h) => h.startsWith("*.")).map((h) => h.slice(1));
  }

  /** The name in a Host / :authority value, without port or brackets; null when unparsable. */
  static hostname(authority: string): string | null {
    const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:[\]@/]+))(?::\d{1,5})?$/.exec(authority.trim());
    if (match === null) return null;
    return (match[1] ?? match[2] ?? "").toLowerCase().replace(/\.$/, "");
  }

  /** Whether a request with this Host (or :authority) is served; a request without one is (it names no host to rebind). */
  allows(authority: string | undefined): boolean {
    if (authority === undefined || authority === "") return true;
    if (this.#any) return true;
    const host = HostPolicy.hostname(authority);
    if (host === null) return false;
    if (isIP(host) !== 0) return true;
    if (host === "localhost" || host.endsWith(".localhost")) return true;
    return this.#exact.has(host) || this.#suffixes.some((suffix) => host.endsWith(suffix));
  }
}
