// The Node entry point's client: connect-node transports (Connect over HTTP/2
// by default, Connect over HTTP/1.1 or gRPC on request).
import type { Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { StatehouseClient } from "../core/statehouse-client.js";
import type { ClientOptions } from "../core/types.js";

/** Options of the Node client. */
export interface StatehouseOptions extends ClientOptions {
  /**
   * Wire protocol (default `"connect"`). `"grpc"` speaks plain gRPC over
   * HTTP/2, like grpcio clients do.
   */
  protocol?: "connect" | "grpc";
  /** HTTP version for the Connect protocol (default `"2"`); gRPC always uses HTTP/2. */
  httpVersion?: "2" | "1.1";
}

function createTransport(url: string, options: StatehouseOptions, sessions: Http2SessionManager | undefined): Transport {
  const protocol = options.protocol ?? "connect";
  if (protocol === "grpc") {
    if (options.httpVersion === "1.1") {
      throw new TypeError('protocol "grpc" requires HTTP/2; httpVersion "1.1" is only valid with "connect"');
    }
    return createGrpcTransport({ baseUrl: url, ...(sessions === undefined ? {} : { sessionManager: sessions }) });
  }
  if (protocol !== "connect") {
    throw new TypeError(`protocol must be "connect" or "grpc", got ${JSON.stringify(protocol)}`);
  }
  if (sessions === undefined) {
    return createConnectTransport({ baseUrl: url, httpVersion: "1.1", useBinaryFormat: true });
  }
  return createConnectTransport({ baseUrl: url, httpVersion: "2", sessionManager: sessions, useBinaryFormat: true });
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
  readonly protocol: "connect" | "grpc";

  /**
   * Creates a client. No connection is made until the first call; after the
   * daemon restarts, the next call reconnects.
   *
   * @throws TypeError for invalid options
   */
  constructor(options: StatehouseOptions = {}) {
    const useHttp2 = options.httpVersion !== "1.1";
    if (options.httpVersion !== undefined && options.httpVersion !== "2" && options.httpVersion !== "1.1") {
      throw new TypeError(`httpVersion must be "2" or "1.1", got ${JSON.stringify(options.httpVersion)}`);
    }
    let sessions: Http2SessionManager | undefined;
    super(
      options,
      (url) => {
        sessions = useHttp2 ? new Http2SessionManager(url) : undefined;
        return createTransport(url, options, sessions);
      },
      () => sessions?.abort(),
    );
    this.protocol = options.protocol ?? "connect";
  }
}
