// The Node entry point's client: connect-node transports (Connect over HTTP/2
// by default; Connect over HTTP/1.1, gRPC or gRPC-Web on request), TLS for
// https:// URLs (with an optional private CA and client certificate), and the
// API key from STATEHOUSE_API_KEY when none is given.
import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import type { Interceptor, Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { API_KEY_ENV, checkApiKey } from "../core/credentials.js";
import { StatehouseClient } from "../core/statehouse-client.js";
import type { StatehouseOptions } from "../core/types.js";
import { SessionManager } from "./session-manager.js";

type Protocol = NonNullable<StatehouseOptions["protocol"]>;

/** The TLS options handed to node:http2 / node:https (empty for http://). */
interface TlsOptions {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

function pem(value: string | Uint8Array | undefined, name: string): Buffer | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" && !(value instanceof Uint8Array)) {
    throw new TypeError(`${name} must be a PEM string or bytes, got ${typeof value}`);
  }
  const bytes = typeof value === "string" ? Buffer.from(value, "utf8") : Buffer.from(value);
  if (!bytes.includes("-----BEGIN ")) {
    throw new TypeError(`${name} must be PEM (-----BEGIN ...), as the files openssl and the daemon use`);
  }
  return bytes;
}

function checkOptions(options: StatehouseOptions): { protocol: Protocol; http2: boolean; tls: TlsOptions } {
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
  const tls: TlsOptions = {};
  const ca = pem(options.ca, "ca");
  const cert = pem(options.cert, "cert");
  const key = pem(options.key, "key");
  if (ca !== undefined) tls.ca = ca;
  if (cert !== undefined) tls.cert = cert;
  if (key !== undefined) tls.key = key;
  if ((cert === undefined) !== (key === undefined)) {
    throw new TypeError("cert and key go together (mTLS needs both)");
  }
  return { protocol, http2: httpVersion === "2", tls };
}

/** The options with the key from STATEHOUSE_API_KEY when none is given. */
function withEnvironmentKey(options: StatehouseOptions): StatehouseOptions {
  const fromEnv = process.env[API_KEY_ENV];
  if (options.apiKey !== undefined || fromEnv === undefined || fromEnv === "") return options;
  return { ...options, apiKey: checkApiKey(fromEnv, API_KEY_ENV) };
}

/** What a client's transport holds open: HTTP/2 sessions or an HTTP/1.1 keep-alive agent. */
type Connections = { sessionManager: SessionManager; agent?: undefined } | { sessionManager?: undefined; agent: HttpAgent };

function createTransport(baseUrl: string, protocol: Protocol, connections: Connections, interceptors: Interceptor[]): Transport {
  const http =
    connections.agent === undefined
      ? { httpVersion: "2" as const, sessionManager: connections.sessionManager }
      : { httpVersion: "1.1" as const, nodeOptions: { agent: connections.agent } };
  switch (protocol) {
    case "grpc":
      if (connections.sessionManager === undefined) throw new TypeError('protocol "grpc" requires HTTP/2');
      return createGrpcTransport({ baseUrl, sessionManager: connections.sessionManager, interceptors });
    case "grpc-web":
      return createGrpcWebTransport({ baseUrl, interceptors, ...http });
    case "connect":
      return createConnectTransport({ baseUrl, useBinaryFormat: true, interceptors, ...http });
  }
}

function openConnections(url: string, http2: boolean, tls: TlsOptions): Connections {
  const https = url.startsWith("https:");
  if (!https && Object.keys(tls).length > 0) {
    throw new TypeError(`ca, cert and key need an https:// url, got ${JSON.stringify(url)}`);
  }
  if (http2) return { sessionManager: new SessionManager(url, undefined, tls) };
  return { agent: https ? new HttpsAgent({ keepAlive: true, ...tls }) : new HttpAgent({ keepAlive: true }) };
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
   * @throws TypeError for invalid options (also a malformed `apiKey` or STATEHOUSE_API_KEY)
   */
  constructor(options: StatehouseOptions = {}) {
    const { protocol, http2, tls } = checkOptions(options);
    const connections: Connections[] = [];
    super(
      withEnvironmentKey(options),
      (url, interceptors) => {
        const opened = openConnections(url, http2, tls);
        connections.push(opened);
        return createTransport(url, protocol, opened, interceptors);
      },
      () => {
        for (const opened of connections) {
          opened.sessionManager?.abort();
          opened.agent?.destroy();
        }
      },
    );
    this.protocol = protocol;
  }
}
