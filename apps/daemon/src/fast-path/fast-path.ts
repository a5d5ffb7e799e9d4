// The lean hot path: Transact, GetState, Health and the server-side
// transaction RPCs over gRPC and Connect (unary, binary, uncompressed
// requests, HTTP/2), served straight from node:http2 'stream' events with the
// generated protobuf-es types. It calls the same service implementation,
// validator and error mapping as the connect-node route and counts errors the
// same way; every other request (JSON, gRPC-Web, compression, streams, other
// methods, HTTP/1.1, browsers) goes to connect-node untouched. connect-node
// spends 3–10× the CPU of this on a unary call (AbortControllers, Headers and
// URL copies, async iterables, gRPC's streaming pipeline; apps/daemon README).
import type http2 from "node:http2";
import { create, type BinaryReadOptions, type DescMessage, type DescMethodUnary, type JsonReadOptions, type JsonWriteOptions, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { createMethodSerializationLookup } from "@connectrpc/connect/protocol";
import { StatehouseService } from "@statehouse/api";
import type { AccessGate, Principal } from "../auth/access-gate.js";
import type { DaemonMetrics } from "../daemon-metrics.js";
import { peerIdentityOf } from "../protocol-server.js";
import { decorateProtocolError } from "../rpc-errors.js";
import type { StatehouseServiceImpl } from "../statehouse-service.js";
import { readBody, resetError, singleMessage, unaryHead, writeResponse, type UnaryHead } from "./unary-wire.js";

export interface FastPathOptions {
  service: StatehouseServiceImpl;
  metrics: DaemonMetrics;
  /** connect's readMaxBytes / writeMaxBytes. */
  readMaxBytes: number;
  writeMaxBytes: number;
  /** The same options the connect-node adapter gets. */
  binaryOptions: Partial<BinaryReadOptions>;
  jsonOptions: Partial<JsonReadOptions & JsonWriteOptions>;
  /** connect's requestGate: throws (UNAVAILABLE) when no new call may start. */
  requestGate: () => void;
  /** Authentication and authorization, as on the connect-node route. */
  gate: AccessGate;
  /** The Host check; a request it refuses is left to the connect-node route, which answers it. */
  hostAllowed: (authority: string | undefined) => boolean;
}

interface FastMethod {
  /** Parses the request message, runs the implementation, serializes the response. */
  parse(data: Uint8Array): unknown;
  run(request: unknown, principal: Principal): Promise<Uint8Array>;
}

/** setTimeout's largest delay; connect arms longer deadlines too, which Node then fires after 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class FastPath {
  readonly #options: FastPathOptions;
  readonly #methods = new Map<string, FastMethod>();

  constructor(options: FastPathOptions) {
    this.#options = options;
    const s = options.service;
    const m = StatehouseService.method;
    this.#add(m.health, s.health);
    this.#add(m.transact, s.transact);
    this.#add(m.getState, s.getState);
    this.#add(m.beginTransaction, s.beginTransaction);
    this.#add(m.write, s.write);
    this.#add(m.delete, s.delete);
    this.#add(m.commit, s.commit);
    this.#add(m.abort, s.abort);
  }

  /** The request paths served here, e.g. "/statehouse.v1.StatehouseService/Transact". */
  get paths(): string[] {
    return [...this.#methods.keys()];
  }

  #add<I extends DescMessage, O extends DescMessage>(method: DescMethodUnary<I, O>, impl: (request: MessageShape<I>) => Promise<MessageInitShape<O>>): void {
    const { binaryOptions, jsonOptions, readMaxBytes, writeMaxBytes, gate } = this.#options;
    const path = `/${method.parent.typeName}/${method.name}`;
    // connect's own serializers: the same parse errors, recursion limit and write limit as the connect-node route.
    const serialization = createMethodSerializationLookup(method, binaryOptions, jsonOptions, { readMaxBytes, writeMaxBytes });
    const input = serialization.getI(true);
    const output = serialization.getO(true);
    this.#methods.set(path, {
      parse: (data) => input.parse(data),
      run: async (request, principal) => output.serialize(create(method.output, await gate.unary(path, principal, request, () => impl(request as MessageShape<I>)))),
    });
  }

  /**
   * Takes the stream when it is a call this path serves and returns true;
   * returns false, having touched nothing, when connect-node must serve it.
   */
  handle(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): boolean {
    const path = headers[":path"];
    const method = path === undefined ? undefined : this.#methods.get(path);
    if (method === undefined) return false;
    // Browsers (CORS) and refused hosts are answered by the connect-node route.
    if (headers.origin !== undefined || !this.#options.hostAllowed(headers[":authority"] ?? headers.host)) return false;
    const head = unaryHead(headers);
    if (head === null) return false;
    this.#options.metrics.fastPathCall();
    void this.#serve(stream, headers, head, path ?? "", method);
    return true;
  }

  async #serve(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, head: UnaryHead, path: string, method: FastMethod): Promise<void> {
    const { metrics } = this.#options;
    // As connect's handler context: the first of deadline, client reset and the
    // call's own end aborts the call; an abort with an error counts it once.
    let aborted = false;
    let timer: NodeJS.Timeout | undefined;
    const abort = (error?: ConnectError): void => {
      if (aborted) return;
      aborted = true;
      clearTimeout(timer);
      stream.off("close", onClose);
      if (error !== undefined) {
        decorateProtocolError(error);
        metrics.rpcError(Code[error.code]);
      }
    };
    const onClose = (): void => abort(resetError(stream.rstCode));
    stream.once("close", onClose);
    stream.on("error", () => undefined); // reset streams: the session logs, the call ends with its close
    if (head.timeoutMs !== undefined) {
      // A deadline already passed aborts connect's context before its listener is
      // attached: nothing is counted, and no later error is decorated.
      if (head.timeoutMs <= 0) abort();
      else timer = setTimeout(() => abort(new ConnectError("the operation timed out", Code.DeadlineExceeded)), Math.min(head.timeoutMs, MAX_TIMER_MS));
    }
    let result: Uint8Array | ConnectError;
    try {
      this.#options.requestGate();
      const socket = stream.session?.socket;
      const principal = this.#options.gate.authenticate(path, { authorization: headers.authorization, peer: peerIdentityOf(socket), remote: socket?.remoteAddress });
      const body = await readBody(stream, head, this.#options.readMaxBytes);
      if (body === null) return abort();
      if (body instanceof ConnectError) throw body;
      result = await method.run(singleMessage(head, body, (data) => method.parse(data)), principal);
      abort();
    } catch (error) {
      // connect aborts with what was thrown (only a ConnectError counts), then answers "internal error".
      abort(error instanceof ConnectError ? error : undefined);
      result = error instanceof ConnectError ? error : new ConnectError("internal error", Code.Internal, undefined, undefined, error);
    }
    try {
      await writeResponse(stream, head, result, this.#options.jsonOptions);
    } catch {
      // The stream went away while the response was being written: nothing left to tell.
      stream.destroy();
    }
  }
}
