// Test helper: one way to call any statehouse.v1 / grpc.health.v1 method per
// transport: a plain @grpc/grpc-js client (protobuf-es schemas as its
// serializers), and connect-node's Connect (h2c and HTTP/1.1) and gRPC-Web
// transports. Errors from all of them decode to the same RpcFailure.
import {
  create,
  fromBinary,
  toBinary,
  type DescMessage,
  type DescMethodServerStreaming,
  type DescMethodUnary,
  type MessageInitShape,
  type MessageShape,
} from "@bufbuild/protobuf";
import { Code, ConnectError, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { findTrailerError } from "@connectrpc/connect/protocol-grpc";
import * as grpc from "@grpc/grpc-js";
import { StatehouseErrorSchema, type StatehouseError } from "@statehouse/api";

export interface CallOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Credentials and TLS for a driver: a bearer API key, the CA to trust, a client certificate (mTLS). */
export interface DriverAuth {
  token?: string;
  tls?: { ca: Buffer; cert?: Buffer; key?: Buffer };
}

export interface RpcDriver {
  readonly name: string;
  unary<I extends DescMessage, O extends DescMessage>(method: DescMethodUnary<I, O>, input: MessageInitShape<I>, options?: CallOptions): Promise<MessageShape<O>>;
  stream<I extends DescMessage, O extends DescMessage>(method: DescMethodServerStreaming<I, O>, input: MessageInitShape<I>, options?: CallOptions): AsyncIterable<MessageShape<O>>;
  close(): void;
}

function grpcJsMethod<I extends DescMessage, O extends DescMessage>(method: DescMethodUnary<I, O> | DescMethodServerStreaming<I, O>, options: CallOptions) {
  return [
    `/${method.parent.typeName}/${method.name}`,
    (value: MessageInitShape<I>) => Buffer.from(toBinary(method.input, create(method.input, value))),
    (bytes: Buffer) => fromBinary(method.output, bytes),
    options.timeoutMs === undefined ? {} : { deadline: Date.now() + options.timeoutMs },
  ] as const;
}

export class GrpcJsDriver implements RpcDriver {
  readonly name = "grpc-js";
  readonly #client: grpc.Client;
  readonly #token: string | undefined;

  constructor(address: string, options: grpc.ChannelOptions = {}, auth: DriverAuth = {}) {
    const credentials = auth.tls === undefined ? grpc.credentials.createInsecure() : grpc.credentials.createSsl(auth.tls.ca, auth.tls.key ?? null, auth.tls.cert ?? null);
    this.#client = new grpc.Client(address, credentials, options);
    this.#token = auth.token;
  }

  #metadata(): grpc.Metadata {
    const metadata = new grpc.Metadata();
    if (this.#token !== undefined) metadata.set("authorization", `Bearer ${this.#token}`);
    return metadata;
  }

  unary<I extends DescMessage, O extends DescMessage>(method: DescMethodUnary<I, O>, input: MessageInitShape<I>, options: CallOptions = {}): Promise<MessageShape<O>> {
    return new Promise((resolve, reject) => {
      const [path, serialize, deserialize, callOptions] = grpcJsMethod(method, options);
      const call = this.#client.makeUnaryRequest(path, serialize, deserialize, input, this.#metadata(), callOptions, (error, response) =>
        error === null ? resolve(response as MessageShape<O>) : reject(error),
      );
      options.signal?.addEventListener("abort", () => call.cancel(), { once: true });
    });
  }

  async *stream<I extends DescMessage, O extends DescMessage>(method: DescMethodServerStreaming<I, O>, input: MessageInitShape<I>, options: CallOptions = {}): AsyncIterable<MessageShape<O>> {
    const [path, serialize, deserialize, callOptions] = grpcJsMethod(method, options);
    const call = this.#client.makeServerStreamRequest(path, serialize, deserialize, input, this.#metadata(), callOptions);
    const onAbort = (): void => call.cancel();
    options.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      for await (const message of call) yield message as MessageShape<O>;
    } finally {
      options.signal?.removeEventListener("abort", onAbort);
      call.cancel();
    }
  }

  close(): void {
    this.#client.close();
  }
}

export class ConnectDriver implements RpcDriver {
  readonly name: string;
  readonly #transport: Transport;

  constructor(name: string, transport: Transport) {
    this.name = name;
    this.#transport = transport;
  }

  async unary<I extends DescMessage, O extends DescMessage>(method: DescMethodUnary<I, O>, input: MessageInitShape<I>, options: CallOptions = {}): Promise<MessageShape<O>> {
    return (await this.#transport.unary(method, options.signal, options.timeoutMs, undefined, input)).message;
  }

  async *stream<I extends DescMessage, O extends DescMessage>(method: DescMethodServerStreaming<I, O>, input: MessageInitShape<I>, options: CallOptions = {}): AsyncIterable<MessageShape<O>> {
    const response = await this.#transport.stream(method, options.signal, options.timeoutMs, undefined, (async function* () {
      yield input;
    })());
    yield* response.message;
  }

  close(): void {
    // connect-node transports hold no resources that need closing.
  }
}

/** Every transport the daemon must serve, against one address; with `auth`, each sends its key and speaks TLS. */
export function allDrivers(address: string, auth: DriverAuth = {}): RpcDriver[] {
  const tls = auth.tls !== undefined;
  const baseUrl = `${tls ? "https" : "http"}://${address}`;
  const h2 = tls ? "h2" : "h2c";
  const interceptors: Interceptor[] =
    auth.token === undefined
      ? []
      : [
          (next) => (req) => {
            req.header.set("authorization", `Bearer ${auth.token}`);
            return next(req);
          },
        ];
  const nodeOptions = auth.tls === undefined ? {} : { nodeOptions: { ca: auth.tls.ca, ...(auth.tls.cert === undefined ? {} : { cert: auth.tls.cert }), ...(auth.tls.key === undefined ? {} : { key: auth.tls.key }) } };
  return [
    new GrpcJsDriver(address, {}, auth),
    new ConnectDriver(`connect-${h2}`, createConnectTransport({ baseUrl, httpVersion: "2", interceptors, ...nodeOptions })),
    new ConnectDriver("connect-http1.1", createConnectTransport({ baseUrl, httpVersion: "1.1", interceptors, ...nodeOptions })),
    new ConnectDriver("connect-json-http1.1", createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false, interceptors, ...nodeOptions })),
    new ConnectDriver("grpc-web-http1.1", createGrpcWebTransport({ baseUrl, httpVersion: "1.1", interceptors, ...nodeOptions })),
    new ConnectDriver(`grpc-web-${h2}`, createGrpcWebTransport({ baseUrl, httpVersion: "2", interceptors, ...nodeOptions })),
  ];
}

export interface RpcFailure {
  code: Code;
  message: string;
  detail: StatehouseError | undefined;
}

/** Decodes a failed call from any driver. */
export function failureOf(error: unknown): RpcFailure {
  if (error instanceof ConnectError) {
    return { code: error.code, message: error.rawMessage, detail: error.findDetails(StatehouseErrorSchema)[0] };
  }
  const e = error as Partial<grpc.ServiceError>;
  if (typeof e.code === "number" && e.metadata !== undefined) {
    const bin = e.metadata.get("grpc-status-details-bin")[0];
    const detail =
      bin === undefined
        ? undefined
        : findTrailerError(
            new Headers({
              "grpc-status": String(e.code),
              "grpc-status-details-bin": Buffer.from(bin).toString("base64").replace(/=+$/, ""),
            }),
          )?.findDetails(StatehouseErrorSchema)[0];
    return { code: e.code as number as Code, message: e.details ?? "", detail };
  }
  throw error;
}

/** Awaits a call that must fail and returns how it failed. */
export async function failure(call: Promise<unknown> | AsyncIterable<unknown>): Promise<RpcFailure> {
  try {
    if (Symbol.asyncIterator in call) {
      for await (const _ of call) {
        // drain
      }
    } else {
      await call;
    }
  } catch (error) {
    return failureOf(error);
  }
  throw new Error("expected the call to fail, it succeeded");
}

/** Collects a whole server stream. */
export async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of stream) out.push(item);
  return out;
}
