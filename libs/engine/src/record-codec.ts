// Value encodings of the engine's tables. Every event carries a CRC-32 of its body.
import { crc32 } from "node:zlib";
import { EngineError } from "./engine-error.ts";
import type { JsonObject } from "./types.ts";

/** One operation of a stored event (on disk a positional array `[namespace, agentId, key, version, value | null]`). */
export interface StoredOperation {
  namespace: string;
  agentId: string;
  key: string;
  version: number;
  /** null for a delete (tombstone). */
  value: JsonObject | null;
}

/** The on-disk form of one operation inside an event's JSON. */
type StoredOperationTuple = [namespace: string, agentId: string, key: string, version: number, value: JsonObject | null];

export interface StoredEvent {
  txnId: string;
  commitTs: number;
  committedAtMs: number;
  idempotencyKey: string | null;
  operations: StoredOperation[];
  /** True when a purge removed operations from this event (rewritten in place; possibly none are left). */
  purged?: boolean;
}

/** Operation ready to be written: the value is already serialized. */
export interface EncodableOperation {
  namespace: string;
  agentId: string;
  key: string;
  version: number;
  valueJson: string | null;
}

const EVENT_FORMAT = 1;

/** [u32 crc32(body)][body: UTF-8 JSON {"f":1,"t":txnId,"c":commitTs,"at":ms,"ik":key|null,"o":[[ns,agent,key,version,value|null],...]}] */
export function encodeEvent(
  txnId: string,
  commitTs: number,
  committedAtMs: number,
  idempotencyKey: string | null,
  operations: readonly EncodableOperation[],
  purged = false,
): Buffer {
  let json = `{"f":${EVENT_FORMAT},"t":${JSON.stringify(txnId)},"c":${commitTs},"at":${committedAtMs},"ik":${
    idempotencyKey === null ? "null" : JSON.stringify(idempotencyKey)
  },"o":[`;
  for (let i = 0; i < operations.length; i++) {
    const op = operations[i] as EncodableOperation;
    if (i > 0) json += ",";
    json += `[${JSON.stringify(op.namespace)},${JSON.stringify(op.agentId)},${JSON.stringify(op.key)},${op.version},${
      op.valueJson ?? "null"
    }]`;
  }
  json += purged ? `],"p":1}` : "]}";
  const body = Buffer.from(json, "utf8");
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeUInt32BE(crc32(body), 0);
  body.copy(out, 4);
  return out;
}

export interface EncodedEvent {
  /** The full event, for the log. */
  event: Buffer;
  /** Per (namespace, agent): the event restricted to that agent's operations (the same Buffer when only one agent). */
  agents: { namespace: string; agentId: string; value: Buffer }[];
}

/** Encodes a transaction for the log and for each agent's covering event index entry. */
export function encodeTransaction(
  txnId: string,
  commitTs: number,
  committedAtMs: number,
  idempotencyKey: string | null,
  operations: readonly EncodableOperation[],
): EncodedEvent {
  const event = encodeEvent(txnId, commitTs, committedAtMs, idempotencyKey, operations);
  const first = operations[0];
  if (first === undefined) return { event, agents: [] };
  if (operations.every((op) => op.agentId === first.agentId && op.namespace === first.namespace)) {
    return { event, agents: [{ namespace: first.namespace, agentId: first.agentId, value: event }] };
  }
  const byAgent = new Map<string, EncodableOperation[]>();
  for (const op of operations) {
    const id = `${op.namespace.length}:${op.namespace}${op.agentId}`;
    const list = byAgent.get(id);
    if (list === undefined) byAgent.set(id, [op]);
    else list.push(op);
  }
  const agents: EncodedEvent["agents"] = [];
  for (const ops of byAgent.values()) {
    const head = ops[0] as EncodableOperation;
    agents.push({ namespace: head.namespace, agentId: head.agentId, value: encodeEvent(txnId, commitTs, committedAtMs, idempotencyKey, ops) });
  }
  return { event, agents };
}

interface EventJson {
  f: number;
  t: string;
  c: number;
  at: number;
  ik: string | null;
  o: StoredOperationTuple[];
  p?: number;
}

/**
 * Decodes and verifies an event; throws EngineError CORRUPTION on a checksum or format failure.
 * expectedTs (the commit_ts in its key) is checked when given.
 */
export function decodeEvent(buffer: Buffer, expectedTs: number | null): StoredEvent {
  if (buffer.length < 4) throw corrupt(expectedTs, "truncated");
  const body = buffer.subarray(4);
  if (crc32(body) !== buffer.readUInt32BE(0)) throw corrupt(expectedTs, "checksum mismatch");
  let parsed: EventJson;
  try {
    parsed = JSON.parse(body.toString("utf8")) as EventJson;
  } catch (error) {
    throw corrupt(expectedTs, "unparseable", error);
  }
  if (parsed.f !== EVENT_FORMAT || (expectedTs !== null && parsed.c !== expectedTs) || !Array.isArray(parsed.o)) {
    throw corrupt(expectedTs, "unexpected format or commit_ts");
  }
  const operations: StoredOperation[] = [];
  for (const op of parsed.o) {
    if (!Array.isArray(op) || op.length !== 5) throw corrupt(expectedTs, "ill-formed operation");
    operations.push({ namespace: op[0], agentId: op[1], key: op[2], version: op[3], value: op[4] });
  }
  const event: StoredEvent = { txnId: parsed.t, commitTs: parsed.c, committedAtMs: parsed.at, idempotencyKey: parsed.ik, operations };
  if (parsed.p === 1) event.purged = true;
  return event;
}

function corrupt(commitTs: number | null, what: string, cause?: unknown): EngineError {
  return new EngineError("CORRUPTION", `event at commit_ts ${commitTs ?? "?"}: ${what}`, {
    details: { commitTs: String(commitTs ?? "") },
    ...(cause === undefined ? {} : { cause }),
  });
}

/** Latest-state entry: [u8 flags (1 = exists)][u64 version][u64 commitTs][UTF-8 JSON value when it exists]. */
export interface StateValue {
  exists: boolean;
  version: number;
  commitTs: number;
  valueJson: string | null;
}

const TWO_32 = 2 ** 32;

export function encodeState(version: number, commitTs: number, valueJson: string | null): Buffer {
  const valueLength = valueJson === null ? 0 : Buffer.byteLength(valueJson);
  const out = Buffer.allocUnsafe(17 + valueLength);
  out[0] = valueJson === null ? 0 : 1;
  out.writeUInt32BE(Math.floor(version / TWO_32), 1);
  out.writeUInt32BE(version >>> 0, 5);
  out.writeUInt32BE(Math.floor(commitTs / TWO_32), 9);
  out.writeUInt32BE(commitTs >>> 0, 13);
  if (valueJson !== null) out.write(valueJson, 17, "utf8");
  return out;
}

/** Version and commit_ts only (no value parse): what the commit path needs. */
export function decodeStateHeader(buffer: Buffer): { exists: boolean; version: number; commitTs: number } {
  return {
    exists: buffer[0] === 1,
    version: buffer.readUInt32BE(1) * TWO_32 + buffer.readUInt32BE(5),
    commitTs: buffer.readUInt32BE(9) * TWO_32 + buffer.readUInt32BE(13),
  };
}

export function decodeStateValue(buffer: Buffer): JsonObject | null {
  if (buffer[0] !== 1) return null;
  return JSON.parse(buffer.toString("utf8", 17)) as JsonObject;
}
