// The browser entry point's client: connect-web transports over fetch
// (Connect by default, gRPC-Web on request). Imports nothing Node-only.
import type { Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { StatehouseClient } from "../core/statehouse-client.js";
import type { ClientOptions } from "../core/types.js";

/** Options of the browser client. */
export interface StatehouseOptions extends ClientOptions {
  /** Wire protocol (default `"connect"`). */
  protocol?: "connect" | "grpc-web";
  /** The fetch implementation (default: `globalThis.fetch`). */
  fetch?: typeof globalThis.fetch;
}

function createTransport(url: string, options: StatehouseOptions): Transport {
  const protocol = options.protocol ?? "connect";
  const common = { baseUrl: url, useBinaryFormat: true, ...(options.fetch === undefined ? {} : { fetch: options.fetch }) };
  switch (protocol) {
    case "connect":
      return createConnectTransport(common);
    case "grpc-web":
      return createGrpcWebTransport(common);
    default:
      throw new TypeError(`protocol must be "connect" or "grpc-web", got ${JSON.stringify(protocol)}`);
  }
}

/**
 * The Statehouse client for browsers (and any runtime with `fetch`). The
 * daemon must allow the page's origin (STATEHOUSE_CORS_ORIGINS).
 *
 * @example
 * ```ts
 * import { Statehouse } from "@statehouse/sdk"; // resolves to the browser entry in bundlers
 *
 * const client = new Statehouse({ url: "http://localhost:50051" });
 * for await (const event of client.replay("agent-1")) console.log(event);
 * ```
 */
export class Statehouse extends StatehouseClient {
  /** The wire protocol in use. */
  readonly protocol: "connect" | "grpc-web";

  /**
   * Creates a client. Nothing is fetched until the first call.
   *
   * @throws TypeError for invalid options
   */
  constructor(options: StatehouseOptions = {}) {
    super(options, (url) => createTransport(url, options));
    this.protocol = options.protocol ?? "connect";
  }
}
