// Statehouse through @connectrpc/connect-node with the generated service: one
// client per protocol for the no-op context rows, the raw one-round-trip
// Transact path the SDK rows are compared with, and the per-event Replay stream.
import { createClient, type Client } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
  Http2SessionManager,
} from "@connectrpc/connect-node";
import { StatehouseService } from "@statehouse/api";

export type ConnectProtocol = "connect-h2" | "connect-h1" | "grpc" | "grpc-web";

export const PROTOCOL_LABELS: Record<ConnectProtocol, string> = {
  "connect-h2": "Connect, HTTP/2 (connect-node)",
  "connect-h1": "Connect, HTTP/1.1 (connect-node)",
  grpc: "gRPC (connect-node)",
  "grpc-web": "gRPC-Web, HTTP/1.1 (connect-node)",
};

export interface ConnectClient extends Disposable {
  rpc: Client<typeof StatehouseService>;
}

/** A client over one HTTP/2 session (h2 protocols) or Node's keep-alive agent (HTTP/1.1). */
export function connectClient(url: string, protocol: ConnectProtocol): ConnectClient {
  if (protocol === "connect-h1" || protocol === "grpc-web") {
    const options = { baseUrl: url, httpVersion: "1.1" as const, useBinaryFormat: true };
    const transport = protocol === "connect-h1" ? createConnectTransport(options) : createGrpcWebTransport(options);
    return { rpc: createClient(StatehouseService, transport), [Symbol.dispose]: () => undefined };
  }
  const sessionManager = new Http2SessionManager(url);
  const transport =
    protocol === "grpc"
      ? createGrpcTransport({ baseUrl: url, sessionManager })
      : createConnectTransport({ baseUrl: url, httpVersion: "2", sessionManager, useBinaryFormat: true });
  return { rpc: createClient(StatehouseService, transport), [Symbol.dispose]: () => sessionManager.abort() };
}
