// The Node entry point's client: connect-node transports (Connect over HTTP/2
// by default; Connect over HTTP/1.1, gRPC or gRPC-Web on request).
import type { Transport } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
  Http2SessionManager,
} from "@connectrpc/connect-node";
import { StatehouseClient } from "../core/statehouse-client.js";
import type { StatehouseOptions } from "../core/types.js";

type Protocol = NonNullable<StatehouseOptions["protocol"]>;

function checkOptions(options: StatehouseOptions): { protocol: Protocol; http2: boolean } {
  const protocol = options.protocol ?? "connect";
  if (protocol !== "connect" && protocol !== "grpc" && protocol !== "grpc-web") {
    throw new TypeError(`protocol must be "connect", "grpc" or "grpc-web", got ${JSON.stringify(protocol)}`);
  }
  const httpVersion = options.httpVersion ?? "2";
  if (httpVersion !== "2" && httpVersion !== "1.1") {
    throw new TypeError(`httpVersion must be "2" or "1.1", got ${JSON.stringify(httpVersion)}`);
  }
  if (protocol === "grpc" && httpVersion === "1.1") {
    throw new TypeError('protocol "grpc" requires HTTP/2; httpVersion "1.1" is only valid with "connect" and "grpc-web"');
  }
  return { protocol, http2: httpVersion === "2" };
}

function createTransport(baseUrl: string, protocol: Protocol, sessionManager: Http2SessionManager | undefined): Transport {
  const http = sessionManager === undefined ? { httpVersion: "1.1" as const } : { httpVersion: "2" as const, sessionManager };
  switch (protocol) {
    case "grpc":
      return createGrpcTransport({ baseUrl, ...http });
    case "grpc-web":
      return createGrpcWebTransport({ baseUrl, ...http });
    case "connect":
      return createConnectTransport({ baseUrl, useBinaryFormat: true, ...http });
  }
}

/**
 * The Statehouse client for Node.
 *
 * @example
 * ```ts
 * import { Statehouse } from "@statehouse/sdk";
 *
 * await using client = new Statehouse({ url: "http://localhost:50051", namespace: "default" });
 * const { commitTs } = await client.withTransaction(async (tx) => {
 *   const seen = await tx.get("agent-1", "counter");
 *   tx.write("agent-1", "counter", { n: ((seen.value?.n as number | undefined) ?? 0) + 1 });
 * });
 * ```
 */
export class Statehouse extends StatehouseClient {
  /** The wire protocol in use. */
  readonly protocol: "connect" | "grpc" | "grpc-web";

  /**
   * Creates a client. No connection is made until the first call; HTTP/2
   * connections are shared by all calls of this client and re-established
   * by the next call after the daemon restarts.
   *
   * @throws TypeError for invalid options
   */
  constructor(options: StatehouseOptions = {}) {
    const { protocol, http2 } = checkOptions(options);
    let sessions: Http2SessionManager | undefined;
    super(
      options,
      (url) => {
        sessions = http2 ? new Http2SessionManager(url) : undefined;
        return createTransport(url, protocol, sessions);
      },
      () => sessions?.abort(),
    );
    this.protocol = protocol;
  }
}
