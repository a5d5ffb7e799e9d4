// Every transport the SDK offers, for running the same tests over each:
// the Node entry (connect-node) and the browser entry (connect-web over
// Node's fetch).
import { Statehouse as BrowserStatehouse } from "../browser.js";
import type { StatehouseClient } from "../core/statehouse-client.js";
import type { ClientOptions } from "../core/types.js";
import { Statehouse as NodeStatehouse } from "../index.js";

export interface TransportCase {
  name: string;
  create(options: ClientOptions & { url: string }): StatehouseClient;
}

export const TRANSPORTS: readonly TransportCase[] = [
  { name: "node: Connect over HTTP/2", create: (options) => new NodeStatehouse(options) },
  { name: "node: Connect over HTTP/1.1", create: (options) => new NodeStatehouse({ ...options, httpVersion: "1.1" }) },
  { name: "node: gRPC", create: (options) => new NodeStatehouse({ ...options, protocol: "grpc" }) },
  { name: "node: gRPC-Web over HTTP/2", create: (options) => new NodeStatehouse({ ...options, protocol: "grpc-web" }) },
  { name: "browser entry: Connect over fetch", create: (options) => new BrowserStatehouse(options) },
  { name: "browser entry: gRPC-Web over fetch", create: (options) => new BrowserStatehouse({ ...options, protocol: "grpc-web" }) },
];
