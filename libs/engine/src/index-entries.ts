// The one definition of what a committed event writes: the log entry and every index entry
// it implies. The sequencer writes exactly these, recovery verifies exactly these and a
// rebuild re-creates exactly these, so adding an index means editing this file only.
import { createHash } from "node:crypto";
import {
  agentEventKey,
  agentPrefix,
  encodeU64,
  eventKey,
  idempotencyExpiryKey,
  idempotencyKey,
  stateKey,
  TABLE_AGENT_EVENT,
  versionKey,
} from "./key-encoding.ts";
import { encodeState, encodeTransaction, type EncodableOperation, type StoredEvent, type StoredOperation } from "./record-codec.ts";

/** A committed transaction as the indexes see it: values already serialized. */
export interface EventRecord {
  txnId: string;
  commitTs: number;
  committedAtMs: number;
  idempotencyKey: string | null;
  operations: readonly EncodableOperation[];
  /** contentFingerprint(operations), when the caller has it already. */
  fingerprint?: Buffer;
}

export type IndexEntryKind = "event" | "agent-event" | "state" | "version" | "idempotency" | "idempotency-expiry";

export interface IndexEntry {
  kind: IndexEntryKind;
  key: Buffer;
  value: Buffer;
  /** For "state" entries: the operation, so a check can accept a newer state of the same record. */
  operation?: EncodableOperation;
  /** For "agent-event", "state" and "version" entries: the namespace they belong to (retention horizons are per namespace). */
  namespace?: string;
}

const EMPTY = Buffer.alloc(0);
const DEFAULT_SCOPE = "default";

/** The namespace an idempotency key belongs to: the smallest namespace the transaction writes ("default" when it writes nothing). */
export function idempotencyScope(operations: readonly { namespace: string }[]): string {
  let scope: string | null = null;
  for (const op of operations) if (scope === null || op.namespace < scope) scope = op.namespace;
  return scope ?? DEFAULT_SCOPE;
}

/** SHA-256 of the transaction's content (every operation's record and value, in order): what a retry must repeat exactly. */
export function contentFingerprint(operations: readonly Omit<EncodableOperation, "version">[]): Buffer {
  const hash = createHash("sha256");
  for (const op of operations) {
    hash.update(`${op.namespace.length}:${op.namespace}${op.agentId.length}:${op.agentId}${op.key.length}:${op.key}`);
    hash.update(op.valueJson === null ? "D;" : `W${op.valueJson.length}:${op.valueJson};`);
  }
  return hash.digest();
}

/** Idempotency-table value: u64 commit_ts, u64 created-at ms, 32-byte content fingerprint. */
export interface IdempotencyRecord {
  commitTs: number;
  createdAtMs: number;
  fingerprint: Buffer;
}

export function encodeIdempotency(record: IdempotencyRecord): Buffer {
  return Buffer.concat([encodeU64(record.commitTs), encodeU64(record.createdAtMs), record.fingerprint]);
}

export function decodeIdempotency(raw: Buffer): IdempotencyRecord {
  return {
    commitTs: raw.readUInt32BE(0) * 2 ** 32 + raw.readUInt32BE(4),
    createdAtMs: raw.readUInt32BE(8) * 2 ** 32 + raw.readUInt32BE(12),
    fingerprint: raw.subarray(16),
  };
}

/** Every entry one committed event writes, the log entry first. Throws RangeError when the event cannot be encoded. */
export function indexEntries(record: EventRecord): IndexEntry[] {
  const ts = record.commitTs;
  const out: IndexEntry[] = [];
  const encoded = encodeTransaction(record.txnId, ts, record.committedAtMs, record.idempotencyKey, record.operations);
  out.push({ kind: "event", key: eventKey(ts), value: encoded.event });
  for (const agent of encoded.agents) {
    out.push({ kind: "agent-event", key: agentEventKey(agentPrefix(TABLE_AGENT_EVENT, agent.namespace, agent.agentId), ts), value: agent.value, namespace: agent.namespace });
  }
  const tsBytes = encodeU64(ts);
  for (const op of record.operations) {
    const sKey = stateKey(op.namespace, op.agentId, op.key);
    out.push({ kind: "state", key: sKey, value: encodeState(op.version, ts, op.valueJson), operation: op, namespace: op.namespace });
    out.push({ kind: "version", key: versionKey(sKey, op.version), value: tsBytes, namespace: op.namespace });
  }
  if (record.idempotencyKey !== null) {
    const scope = idempotencyScope(record.operations);
    const value = encodeIdempotency({ commitTs: ts, createdAtMs: record.committedAtMs, fingerprint: record.fingerprint ?? contentFingerprint(record.operations) });
    out.push({ kind: "idempotency", key: idempotencyKey(scope, record.idempotencyKey), value });
    out.push({ kind: "idempotency-expiry", key: idempotencyExpiryKey(record.committedAtMs, scope, record.idempotencyKey), value: EMPTY });
  }
  return out;
}

/** The EventRecord of a stored (decoded) event: values re-serialized exactly as the sequencer serialized them. */
export function eventRecord(event: Omit<StoredEvent, "operations"> & { operations: readonly StoredOperation[] }): EventRecord {
  return {
    txnId: event.txnId,
    commitTs: event.commitTs,
    committedAtMs: event.committedAtMs,
    idempotencyKey: event.idempotencyKey,
    operations: event.operations.map((op) => ({
      namespace: op.namespace,
      agentId: op.agentId,
      key: op.key,
      version: op.version,
      valueJson: op.value === null ? null : JSON.stringify(op.value),
    })),
  };
}
