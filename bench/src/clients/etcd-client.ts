// A minimal etcd v3 client: the KV service (Put, Range, Txn of puts) and
// Maintenance.Status over etcd's native gRPC API, with @grpc/grpc-js and the
// few messages hand-encoded with @bufbuild/protobuf's wire helpers (field
// numbers from etcd's api/etcdserverpb/rpc.proto and mvccpb/kv.proto).
// Why gRPC and not the JSON gateway (/v3/kv/put): the gateway is a proxy
// inside etcd that re-issues every request as a loopback gRPC call and adds
// base64 JSON on both ends; real etcd clients (etcdctl, clientv3, jetcd) use
// gRPC, so that is the rate a user would see.
import { Client, credentials, type ServiceError } from "@grpc/grpc-js";
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";

export interface EtcdKeyValue {
  key: Uint8Array;
  value: Uint8Array;
  modRevision: bigint;
}

export interface EtcdRangeResult {
  kvs: EtcdKeyValue[];
  more: boolean;
  count: bigint;
}

const utf8 = new TextEncoder();
const identity = (bytes: Buffer): Buffer => bytes;

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function encodePut(writer: BinaryWriter, key: Uint8Array, value: Uint8Array): BinaryWriter {
  return writer.tag(1, WireType.LengthDelimited).bytes(key).tag(2, WireType.LengthDelimited).bytes(value);
}

function decodeKeyValue(bytes: Uint8Array): EtcdKeyValue {
  const reader = new BinaryReader(bytes);
  const kv: EtcdKeyValue = { key: new Uint8Array(), value: new Uint8Array(), modRevision: 0n };
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1) kv.key = reader.bytes();
    else if (field === 3) kv.modRevision = BigInt(reader.int64());
    else if (field === 5) kv.value = reader.bytes();
    else reader.skip(wireType);
  }
  return kv;
}

function decodeRangeResponse(bytes: Buffer): EtcdRangeResult {
  const reader = new BinaryReader(bytes);
  const result: EtcdRangeResult = { kvs: [], more: false, count: 0n };
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 2) result.kvs.push(decodeKeyValue(reader.bytes()));
    else if (field === 3) result.more = reader.bool();
    else if (field === 4) result.count = BigInt(reader.int64());
    else reader.skip(wireType);
  }
  return result;
}

export class EtcdClient {
  private readonly client: Client;

  /** `address` is host:port of etcd's client URL. */
  constructor(address: string) {
    this.client = new Client(address, credentials.createInsecure(), {
      "grpc.max_receive_message_length": 64 * 1024 * 1024,
      "grpc.max_send_message_length": 64 * 1024 * 1024,
    });
  }

  private unary<T>(method: string, request: Uint8Array, decode: (bytes: Buffer) => T): Promise<T> {
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(method, identity, decode, toBuffer(request), (error: ServiceError | null, response?: T) => {
        if (error !== null) reject(error);
        else resolve(response as T);
      });
    });
  }

  /** KV.Put: one durable write (etcd fsyncs its WAL before answering). */
  async put(key: string | Uint8Array, value: string | Uint8Array): Promise<void> {
    const k = typeof key === "string" ? utf8.encode(key) : key;
    const v = typeof value === "string" ? utf8.encode(value) : value;
    await this.unary("/etcdserverpb.KV/Put", encodePut(new BinaryWriter(), k, v).finish(), () => undefined);
  }

  /** KV.Txn with only `success` puts: many keys in one revision (used to load data fast). */
  async putMany(entries: ReadonlyArray<readonly [string, string]>): Promise<void> {
    const writer = new BinaryWriter();
    for (const [key, value] of entries) {
      // TxnRequest.success (2) -> RequestOp.request_put (2) -> PutRequest
      writer.tag(2, WireType.LengthDelimited).fork();
      writer.tag(2, WireType.LengthDelimited).fork();
      encodePut(writer, utf8.encode(key), utf8.encode(value));
      writer.join().join();
    }
    await this.unary("/etcdserverpb.KV/Txn", writer.finish(), () => undefined);
  }

  /** KV.Range of [key, rangeEnd) (or the single key), linearizable unless `serializable`. */
  range(key: string | Uint8Array, options: { rangeEnd?: Uint8Array; limit?: number; serializable?: boolean } = {}): Promise<EtcdRangeResult> {
    const writer = new BinaryWriter().tag(1, WireType.LengthDelimited).bytes(typeof key === "string" ? utf8.encode(key) : key);
    if (options.rangeEnd !== undefined) writer.tag(2, WireType.LengthDelimited).bytes(options.rangeEnd);
    if (options.limit !== undefined) writer.tag(3, WireType.Varint).int64(options.limit);
    if (options.serializable === true) writer.tag(7, WireType.Varint).bool(true);
    return this.unary("/etcdserverpb.KV/Range", writer.finish(), decodeRangeResponse);
  }

  /** Maintenance.Status: answered by the server without touching the KV store (readiness, no-op rate). */
  async status(): Promise<void> {
    await this.unary("/etcdserverpb.Maintenance/Status", new Uint8Array(), () => undefined);
  }

  close(): void {
    this.client.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** The range_end that selects every key starting with `prefix` (etcd's "prefix end"). */
export function prefixEnd(prefix: string): Uint8Array {
  const bytes = utf8.encode(prefix);
  for (let i = bytes.length - 1; i >= 0; i--) {
    if ((bytes[i] as number) < 0xff) {
      const end = bytes.slice(0, i + 1);
      end[i] = (bytes[i] as number) + 1;
      return end;
    }
  }
  return new Uint8Array([0]);
}

/** The smallest key after `key` (for paging a range). */
export function keyAfter(key: Uint8Array): Uint8Array {
  const next = new Uint8Array(key.length + 1);
  next.set(key);
  return next;
}
