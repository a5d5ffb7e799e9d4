// The cheapest client there is for a unary Statehouse call: one node:http2
// session and a request encoded once (gRPC with its 5-byte envelope, or
// Connect binary), so the client's own CPU takes little from the daemon it
// measures. It checks the HTTP status and grpc-status of every answer.
import http2 from "node:http2";
import { create, toBinary, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { StatehouseService } from "@statehouse/api";

export type RawProtocol = "gRPC" | "Connect";
export type RawRpc = "Health" | "Transact" | "GetState";

const S = StatehouseService.method;
/** The agent and key every raw call writes or reads (Transact writes what GetState reads). */
export const RAW_AGENT = "raw-rpc";
export const RAW_KEY = "k";

function encode<I extends DescMessage>(schema: I, init: MessageInitShape<I>): Buffer {
  return Buffer.from(toBinary(schema, create(schema, init)));
}

function envelope(data: Buffer): Buffer {
  const out = Buffer.alloc(5 + data.length);
  out.writeUInt32BE(data.length, 1);
  data.copy(out, 5);
  return out;
}

/** One pre-encoded request of one RPC in one protocol. */
export interface RawCall {
  rpc: RawRpc;
  protocol: RawProtocol;
  headers: http2.OutgoingHttpHeaders;
  body: Buffer;
}

export function rawCall(rpc: RawRpc, protocol: RawProtocol, namespace: string): RawCall {
  const message = {
    Health: () => encode(S.health.input, {}),
    Transact: () => encode(S.transact.input, { operations: [{ namespace, agentId: RAW_AGENT, key: RAW_KEY, value: { n: 1, text: "raw rpc bench" } }] }),
    GetState: () => encode(S.getState.input, { namespace, agentId: RAW_AGENT, key: RAW_KEY }),
  }[rpc]();
  return framed(rpc, protocol, message);
}

/** A Transact of `operations`, encoded now (for loads whose agent and key change per call). */
export function rawTransact(protocol: RawProtocol, operations: NonNullable<MessageInitShape<typeof S.transact.input>["operations"]>): RawCall {
  return framed("Transact", protocol, encode(S.transact.input, { operations }));
}

function framed(rpc: RawRpc, protocol: RawProtocol, message: Buffer): RawCall {
  const path = `/${StatehouseService.typeName}/${rpc}`;
  return protocol === "gRPC"
    ? { rpc, protocol, headers: { ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers" }, body: envelope(message) }
    : { rpc, protocol, headers: { ":method": "POST", ":path": path, "content-type": "application/proto" }, body: message };
}

/** Sends `call` on `session`; rejects unless the answer is a success (HTTP 200, grpc-status 0 for gRPC). */
export function sendRaw(session: http2.ClientHttp2Session, call: RawCall): Promise<void> {
  return new Promise((resolve, reject) => {
    const stream = session.request(call.headers);
    let ok = false;
    let status: unknown;
    let trailers: http2.IncomingHttpHeaders = {};
    stream.on("response", (headers) => {
      status = headers[":status"];
      ok = status === 200 && (call.protocol === "Connect" || headers["grpc-status"] === undefined);
    });
    stream.on("trailers", (t) => {
      trailers = t;
      ok = ok && t["grpc-status"] === "0";
    });
    stream.on("data", () => undefined);
    stream.on("error", reject);
    stream.on("close", () =>
      ok ? resolve() : reject(new Error(`${call.protocol} ${call.rpc} failed: HTTP ${String(status)} ${JSON.stringify(trailers)} (stream reset code ${stream.rstCode})`)),
    );
    stream.end(call.body);
  });
}

/** An HTTP/2 session to `url`, once connected. */
export function rawSession(url: string): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url);
    session.once("connect", () => resolve(session));
    session.once("error", reject);
  });
}
