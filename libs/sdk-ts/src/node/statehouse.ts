// The Node entry point's client: connect-node transports (Connect over HTTP/2
// by default; Connect over HTTP/1.1, gRPC or gRPC-Web on request).
import { Agent } from "node:http";
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

/** What a client's transport holds open: HTTP/2 sessions or an HTTP/1.1 keep-alive agent. */
type Connections = { sessionManager: Http2SessionManager; agent?: undefined } | { sessionManager?: undefined; agent: Agent };

function createTransport(baseUrl: string, protocol: Protocol, connections: Connections): Transport {
  const http =
    connections.agent === undefined
      ? { httpVersion: "2" as const, sessionManager: connections.sessionManager }
      : { httpVersion: "1.1" as const, nodeOptions: { agent: connections.agent } };
  switch (protocol) {
    case "grpc":
      if (connections.sessionManager === undefined) throw new TypeError('protocol "grpc" requires HTTP/2');
      return createGrpcTransport({ baseUrl, sessionManager: connections.sessionManager });
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
   * Creates a client. No connection is made until the first call. The
   * client's connections (one HTTP/2 session, or an HTTP/1.1 keep-alive
   * pool) are shared by its calls, re-established by the next call after the
   * daemon restarts, and closed by {@link StatehouseClient.close}.
   *
   * @throws TypeError for invalid options
   */
  constructor(options: StatehouseOptions = {}) {
    const { protocol, http2 } = checkOptions(options);
    let connections: Connections | undefined;
    super(
      options,
      (url) => {
        connections = http2
          ? { sessionManager: new Http2SessionManager(url) }
          : { agent: new Agent({ keepAlive: true }) };
        return createTransport(url, protocol, connections);
      },
      () => {
        connections?.sessionManager?.abort();
        connections?.agent?.destroy();
      },
    );
    this.protocol = protocol;
  }
}
