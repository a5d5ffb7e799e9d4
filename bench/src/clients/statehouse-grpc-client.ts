// Statehouse over plain gRPC with @grpc/grpc-js and the generated messages:
// the same client stack as the etcd client, so "Statehouse raw gRPC" vs "etcd"
// compares the servers, not the client libraries.
import { Client, credentials, type ServiceError } from "@grpc/grpc-js";
import { create, fromBinary, toBinary, type DescMessage, type MessageInitShape, type MessageShape, type JsonObject } from "@bufbuild/protobuf";
import {
  BeginTransactionRequestSchema,
  BeginTransactionResponseSchema,
  CommitRequestSchema,
  CommitResponseSchema,
  GetStateRequestSchema,
  GetStateResponseSchema,
  HealthRequestSchema,
  HealthResponseSchema,
  ReplayEventSchema,
  ReplayRequestSchema,
  TransactRequestSchema,
  TransactResponseSchema,
  WatchRequestSchema,
  WriteRequestSchema,
  WriteResponseSchema,
  type GetStateResponse,
  type ReplayEvent,
} from "@statehouse/api";

const SERVICE = "/statehouse.v1.StatehouseService";

function serializer<D extends DescMessage>(schema: D): (message: MessageShape<D>) => Buffer {
  return (message) => {
    const bytes = toBinary(schema, message);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

function deserializer<D extends DescMessage>(schema: D): (bytes: Buffer) => MessageShape<D> {
  return (bytes) => fromBinary(schema, bytes);
}

export interface RecordOp {
  namespace: string;
  agentId: string;
  key: string;
  value: JsonObject;
}

export class StatehouseGrpcClient {
  private readonly client: Client;

  /**
   * `address` is host:port. grpc-js shares one connection among clients of the same target;
   * `ownConnection` gives this client its own (to open more streams than one HTTP/2
   * connection allows).
   */
  constructor(address: string, options: { ownConnection?: boolean } = {}) {
    this.client = new Client(address, credentials.createInsecure(), {
      "grpc.max_receive_message_length": 64 * 1024 * 1024,
      ...(options.ownConnection === true ? { "grpc.use_local_subchannel_pool": 1 } : {}),
    });
  }

  private unary<I extends DescMessage, O extends DescMessage>(method: string, input: I, output: O, request: MessageInitShape<I>): Promise<MessageShape<O>> {
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(`${SERVICE}/${method}`, serializer(input), deserializer(output), create(input, request), (error: ServiceError | null, response?: MessageShape<O>) => {
        if (error !== null) reject(error);
        else resolve(response as MessageShape<O>);
      });
    });
  }

  async health(): Promise<string> {
    return (await this.unary("Health", HealthRequestSchema, HealthResponseSchema, {})).status;
  }

  /** One-shot transaction: the operations commit atomically and durably in one round trip. */
  async transact(operations: readonly RecordOp[]): Promise<bigint> {
    const response = await this.unary("Transact", TransactRequestSchema, TransactResponseSchema, {
      operations: operations.map((op) => ({ namespace: op.namespace, agentId: op.agentId, key: op.key, value: op.value })),
    });
    return response.commitTs;
  }

  /** The original transaction RPCs: BeginTransaction, one Write, Commit (3 round trips). */
  async beginWriteCommit(op: RecordOp): Promise<bigint> {
    const { txnId } = await this.unary("BeginTransaction", BeginTransactionRequestSchema, BeginTransactionResponseSchema, {});
    await this.unary("Write", WriteRequestSchema, WriteResponseSchema, { txnId, ...op });
    return (await this.unary("Commit", CommitRequestSchema, CommitResponseSchema, { txnId })).commitTs;
  }

  getState(namespace: string, agentId: string, key: string): Promise<GetStateResponse> {
    return this.unary("GetState", GetStateRequestSchema, GetStateResponseSchema, { namespace, agentId, key });
  }

  /** Server-streamed replay of one agent. */
  async *replay(namespace: string, agentId: string): AsyncIterable<ReplayEvent> {
    const stream = this.client.makeServerStreamRequest(
      `${SERVICE}/Replay`,
      serializer(ReplayRequestSchema),
      deserializer(ReplayEventSchema),
      create(ReplayRequestSchema, { namespace, agentId }),
    );
    try {
      for await (const event of stream) yield event as ReplayEvent;
    } finally {
      stream.cancel();
    }
  }

  /** Opens a Watch stream on one agent (new commits only); returns its cancel function. */
  watch(namespace: string, agentId: string, onEvent: (event: ReplayEvent) => void): () => void {
    const stream = this.client.makeServerStreamRequest(
      `${SERVICE}/Watch`,
      serializer(WatchRequestSchema),
      deserializer(ReplayEventSchema),
      create(WatchRequestSchema, { namespace, agentId }),
    );
    stream.on("data", (event: ReplayEvent) => onEvent(event));
    // A cancelled stream ends with CANCELLED; nothing else is expected of an idle watcher.
    stream.on("error", () => undefined);
    return () => stream.cancel();
  }

  close(): void {
    this.client.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
