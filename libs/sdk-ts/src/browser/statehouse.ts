// The browser entry point's client: connect-web transports over fetch
// (Connect by default, gRPC-Web on request). Imports nothing Node-only.
import type { Interceptor, Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { StatehouseClient } from "../core/statehouse-client.js";
import type { StatehouseOptions } from "../core/types.js";

function createTransport(
  baseUrl: string,
  protocol: "connect" | "grpc-web",
  options: StatehouseOptions,
  interceptors: Interceptor[],
): Transport {
  const common = { baseUrl, useBinaryFormat: true, interceptors, ...(options.fetch === undefined ? {} : { fetch: options.fetch }) };
  return protocol === "connect" ? createConnectTransport(common) : createGrpcWebTransport(common);
}

/**
 * The Statehouse client for browsers (and any runtime with `fetch`). The
 * daemon must allow the page's origin (STATEHOUSE_CORS_ORIGINS). `apiKey` is
 * sent as `Authorization: Bearer`; `https://` uses the browser's own
 * certificate store (so `ca`, `cert` and `key` are refused).
 *
 * @example
 * ```ts
 * import { Statehouse } from "@statehouse/sdk"; // the browser entry, in bundlers
 *
 * const client = new Statehouse({ url: "http://localhost:50051" });
 * for await (const event of client.replay("agent-1")) console.log(event);
 * ```
 */
export class Statehouse extends StatehouseClient {
  /** The wire protocol in use. */
  readonly protocol: "connect" | "grpc" | "grpc-web";

  /**
   * Creates a client. Nothing is fetched until the first call.
   *
   * @throws TypeError for invalid options, including `protocol: "grpc"` (browsers cannot speak plain gRPC)
   *   and `ca`/`cert`/`key` (a page cannot choose what its browser trusts)
   */
  constructor(options: StatehouseOptions = {}) {
    const protocol = options.protocol ?? "connect";
    if (protocol !== "connect" && protocol !== "grpc-web") {
      throw new TypeError(`the browser entry speaks "connect" or "grpc-web", got ${JSON.stringify(protocol)}`);
    }
    for (const name of ["ca", "cert", "key"] as const) {
      if (options[name] !== undefined) {
        throw new TypeError(`the browser entry cannot take ${name}: the browser verifies TLS with its own certificate store`);
      }
    }
    super(options, (url, interceptors) => createTransport(url, protocol, options, interceptors));
    this.protocol = protocol;
  }
}
