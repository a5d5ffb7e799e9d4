// Recovery of a RocksDB store, run by openEngine after RocksDB's own WAL recovery.
//
// The event log (table E) is the source of truth. The indexes (latest state S, versions V,
// agent events A, idempotency keys I) are written in the SAME atomic batch as the events,
// so after RocksDB's recovery they normally match the log exactly. Recovery therefore:
//   1. picks the newest snapshot whose checksum verifies (older ones on failure);
//   2. replays the events after that snapshot against the durable indexes, verifying each
//      event's checksum and that every index entry it implies is present ("verify");
//   3. only if something is missing or inconsistent (or a previous rebuild was interrupted,
//      or a full rebuild was asked for) rebuilds the indexes: the state table from the
//      snapshot plus the events after it, or everything from the full log when no snapshot
//      is valid. A rebuild is marked in the meta table first, so a crash during it simply
//      makes the next open rebuild again.
import { EngineError } from "./engine-error.ts";
import type { Failpoints } from "./failpoints.ts";
import {
  agentEventKey,
  agentPrefix,
  decodeU64,
  encodeU64,
  eventKey,
  idempotencyKey,
  metaKey,
  stateKey,
  TABLE_AGENT_EVENT,
  TABLE_EVENT,
  TABLE_IDEMPOTENCY,
  TABLE_STATE,
  TABLE_VERSION,
  versionKey,
} from "./key-encoding.ts";
import { META_COMMIT_TS } from "./commit-sequencer.ts";
import { decodeEvent, decodeStateHeader, encodeState, encodeTransaction, type EncodableOperation, type StoredEvent } from "./record-codec.ts";
import type { SnapshotInfo, SnapshotStore } from "./snapshot-store.ts";
import type { KvOp, OrderedKv } from "./storage/ordered-kv.ts";

export const META_FORMAT = metaKey("format");
export const META_REBUILD = metaKey("rebuild-in-progress");
const FORMAT = Buffer.from("statehouse-engine/1", "utf8");
const CHUNK = 512;
const REBUILD_FULL = Buffer.from("full", "utf8");
const REBUILD_FROM_SNAPSHOT = Buffer.from("snapshot", "utf8");

export type RecoveryMode = "auto" | "rebuild";

export interface RecoveryResult {
  lastCommitTs: number;
  snapshot: SnapshotInfo | null;
  eventsReplayed: number;
  rebuilt: boolean;
  notes: string[];
}

export async function recover(kv: OrderedKv, snapshots: SnapshotStore, failpoints: Failpoints, mode: RecoveryMode): Promise<RecoveryResult> {
  const notes: string[] = [];
  await snapshots.init();
  const [rawTs, rebuildMarker, format] = kv.getManySync([META_COMMIT_TS, META_REBUILD, META_FORMAT]);
  const firstEvent = await firstKey(kv, Buffer.of(TABLE_EVENT), Buffer.of(TABLE_EVENT + 1));
  if (format === undefined) {
    if (firstEvent !== undefined) throw new EngineError("CORRUPTION", "store has events but no format marker");
    kv.writeSync([{ type: "put", key: META_FORMAT, value: FORMAT }], true);
  } else if (!format.equals(FORMAT)) {
    throw new EngineError("STORAGE_ERROR", `unsupported store format ${format.toString("utf8")}`);
  }

  let lastTs = rawTs === undefined ? 0 : decodeU64(rawTs);
  const reasons: string[] = [];
  if (mode === "rebuild") reasons.push("full rebuild requested");
  if (rebuildMarker !== undefined) reasons.push("a previous index rebuild was interrupted");
  if (rawTs === undefined && firstEvent !== undefined) reasons.push("commit_ts marker missing");
  if ((await firstKey(kv, eventKey(lastTs + 1), Buffer.of(TABLE_EVENT + 1))) !== undefined) reasons.push("events beyond the commit_ts marker");

  const snapshot = await newestValidSnapshot(snapshots, lastTs, notes);
  let eventsReplayed = 0;
  if (reasons.length === 0) {
    const verified = await verifyTail(kv, snapshot?.commitTs ?? 0, lastTs, failpoints);
    eventsReplayed = verified.events;
    if (verified.problem !== null) reasons.push(verified.problem);
  }
  if (reasons.length === 0) return { lastCommitTs: lastTs, snapshot, eventsReplayed, rebuilt: false, notes };

  notes.push(`rebuilding indexes: ${reasons.join("; ")}`);
  // An interrupted full rebuild already deleted the version, agent and idempotency indexes:
  // only another full rebuild restores them.
  const resumeFull = rebuildMarker !== undefined && rebuildMarker.equals(REBUILD_FULL);
  const base = mode === "rebuild" || resumeFull ? null : snapshot;
  const rebuilt = await rebuild(kv, snapshots, base, failpoints);
  if (base === null && snapshot !== null) notes.push("snapshot not used: indexes rebuilt from the full event log");
  lastTs = rebuilt.lastTs;
  return { lastCommitTs: lastTs, snapshot: base, eventsReplayed: rebuilt.events, rebuilt: true, notes };
}

async function newestValidSnapshot(snapshots: SnapshotStore, lastTs: number, notes: string[]): Promise<SnapshotInfo | null> {
  for (const candidate of await snapshots.list()) {
    if (candidate.commitTs > lastTs) {
      notes.push(`snapshot ${candidate.file} is newer than the log (commit_ts ${lastTs}): ignored`);
      continue;
    }
    const check = await snapshots.check(candidate);
    if (check.ok) return candidate;
    notes.push(`snapshot ${candidate.file} rejected: ${check.reason}`);
  }
  return null;
}

async function firstKey(kv: OrderedKv, gte: Buffer, lt: Buffer): Promise<Buffer | undefined> {
  const iterator = kv.iterator({ gte, lt, limit: 1 });
  try {
    return (await iterator.next(1))[0]?.[0];
  } finally {
    iterator.close();
  }
}

/** Yields decoded events (with their stored bytes) with commit_ts in (afterTs, upToTs], CHUNK at a time, checksums verified. */
async function* events(kv: OrderedKv, afterTs: number, upToTs: number): AsyncGenerator<{ event: StoredEvent; raw: Buffer }[]> {
  const upper = upToTs === Infinity ? Buffer.of(TABLE_EVENT + 1) : eventKey(upToTs + 1);
  const iterator = kv.iterator({ gte: eventKey(afterTs + 1), lt: upper });
  let expected = afterTs + 1;
  try {
    for (;;) {
      const rows = await iterator.next(CHUNK);
      if (rows.length === 0) break;
      const batch: { event: StoredEvent; raw: Buffer }[] = [];
      for (const [key, value] of rows) {
        const ts = decodeU64(key, 1);
        if (ts !== expected) throw new EngineError("CORRUPTION", `event log has a gap: expected commit_ts ${expected}, found ${ts}`);
        expected++;
        batch.push({ event: decodeEvent(value, ts), raw: value });
      }
      yield batch;
    }
  } finally {
    iterator.close();
  }
  if (upToTs !== Infinity && expected !== upToTs + 1) {
    throw new EngineError("CORRUPTION", `event log ends at commit_ts ${expected - 1}, expected ${upToTs}`);
  }
}

type Check = (value: Buffer | undefined) => string | null;

/** Operations in an agent's slice of a multi-agent event, or -1 when the stored slice does not decode. */
function sliceOperationCount(stored: Buffer, ts: number): number {
  try {
    return decodeEvent(stored, ts).operations.length;
  } catch {
    return -1;
  }
}

/** The index entries one event implies, each with its check. */
function eventChecks(event: StoredEvent, raw: Buffer, keys: Buffer[], checks: Check[]): void {
  const ts = event.commitTs;
  const agents = new Map<string, { namespace: string; agentId: string; count: number }>();
  for (const [namespace, agentId, key, version, value] of event.operations) {
    const sKey = stateKey(namespace, agentId, key);
    keys.push(sKey);
    checks.push((stored) => {
      if (stored === undefined) return `state of ${agentId}/${key} missing (event ${ts})`;
      const header = decodeStateHeader(stored);
      if (header.version < version) return `state of ${agentId}/${key} older than event ${ts}`;
      if (header.version === version && (header.commitTs !== ts || header.exists !== (value !== null))) {
        return `state of ${agentId}/${key} disagrees with event ${ts}`;
      }
      return null;
    });
    keys.push(versionKey(sKey, version));
    checks.push((stored) => (stored !== undefined && decodeU64(stored) === ts ? null : `version ${version} of ${agentId}/${key} not indexed`));
    const id = `${namespace.length}:${namespace}${agentId}`;
    const agent = agents.get(id);
    if (agent === undefined) agents.set(id, { namespace, agentId, count: 1 });
    else agent.count++;
  }
  for (const { namespace, agentId, count } of agents.values()) {
    keys.push(agentEventKey(agentPrefix(TABLE_AGENT_EVENT, namespace, agentId), ts));
    checks.push((stored) => {
      if (stored === undefined) return `event ${ts} missing from the index of agent ${agentId}`;
      // A single-agent event is indexed with the very same bytes; otherwise compare the slice.
      // An index entry that does not even decode is damage to repair from the log, like any other mismatch.
      const same = agents.size === 1 ? stored.equals(raw) : sliceOperationCount(stored, ts) === count;
      return same ? null : `index entry of event ${ts} for agent ${agentId} differs from the log`;
    });
  }
  if (event.idempotencyKey !== null) {
    keys.push(idempotencyKey(event.idempotencyKey));
    checks.push((stored) => (stored !== undefined && decodeU64(stored) === ts ? null : `idempotency key of event ${ts} not indexed`));
  }
}

/**
 * Checks that the indexes hold everything the events after the snapshot imply. Read-only.
 * The point reads of one chunk run (in the storage thread pool) while the next chunk is decoded.
 */
async function verifyTail(kv: OrderedKv, afterTs: number, upToTs: number, failpoints: Failpoints): Promise<{ events: number; problem: string | null }> {
  let count = 0;
  let pending: { checks: Check[]; values: Promise<(Buffer | undefined)[]> } | null = null;
  const settle = async (): Promise<string | null> => {
    if (pending === null) return null;
    const { checks, values } = pending;
    pending = null;
    const stored = await values;
    for (let i = 0; i < checks.length; i++) {
      const problem = (checks[i] as Check)(stored[i]);
      if (problem !== null) return problem;
    }
    return null;
  };
  for await (const batch of events(kv, afterTs, upToTs)) {
    const keys: Buffer[] = [];
    const checks: Check[] = [];
    for (const { event, raw } of batch) {
      failpoints.hit("recovery:mid-replay");
      count++;
      eventChecks(event, raw, keys, checks);
    }
    const problem = await settle();
    if (problem !== null) return { events: count, problem };
    pending = { checks, values: kv.getMany(keys) };
  }
  return { events: count, problem: await settle() };
}

/** Rebuilds the indexes from a snapshot (state only) + later events, or from the whole log. */
async function rebuild(kv: OrderedKv, snapshots: SnapshotStore, base: SnapshotInfo | null, failpoints: Failpoints): Promise<{ lastTs: number; events: number }> {
  // Read-only pass first: a damaged log (checksum, gap) is refused before any index is touched.
  for await (const _batch of events(kv, base?.commitTs ?? 0, Infinity)) {
    // decoding verifies each event
  }
  kv.writeSync([{ type: "put", key: META_REBUILD, value: base === null ? REBUILD_FULL : REBUILD_FROM_SNAPSHOT }], true);
  await clearTable(kv, TABLE_STATE);
  if (base === null) {
    for (const table of [TABLE_VERSION, TABLE_AGENT_EVENT, TABLE_IDEMPOTENCY]) await clearTable(kv, table);
  } else {
    for await (const entries of snapshots.read(base)) {
      const ops: KvOp[] = [];
      for (const [key, value] of entries) {
        if (key[0] !== TABLE_STATE) throw new EngineError("CORRUPTION", `snapshot ${base.file} holds a non-state key`);
        ops.push({ type: "put", key, value });
      }
      kv.writeSync(ops, false);
    }
  }
  let lastTs = base?.commitTs ?? 0;
  let count = 0;
  for await (const batch of events(kv, lastTs, Infinity)) {
    const ops: KvOp[] = [];
    for (const { event } of batch) {
      failpoints.hit("recovery:mid-replay");
      count++;
      const ts = event.commitTs;
      const encodable: EncodableOperation[] = [];
      for (const [namespace, agentId, key, version, value] of event.operations) {
        const valueJson = value === null ? null : JSON.stringify(value);
        encodable.push({ namespace, agentId, key, version, valueJson });
        const sKey = stateKey(namespace, agentId, key);
        ops.push({ type: "put", key: sKey, value: encodeState(version, ts, valueJson) });
        ops.push({ type: "put", key: versionKey(sKey, version), value: encodeU64(ts) });
      }
      for (const agent of encodeTransaction(event.txnId, ts, event.committedAtMs, event.idempotencyKey, encodable).agents) {
        ops.push({ type: "put", key: agentEventKey(agentPrefix(TABLE_AGENT_EVENT, agent.namespace, agent.agentId), ts), value: agent.value });
      }
      if (event.idempotencyKey !== null) ops.push({ type: "put", key: idempotencyKey(event.idempotencyKey), value: encodeU64(ts) });
      lastTs = ts;
    }
    kv.writeSync(ops, false);
  }
  kv.writeSync(
    [
      { type: "put", key: META_COMMIT_TS, value: encodeU64(lastTs) },
      { type: "del", key: META_REBUILD },
    ],
    true,
  );
  return { lastTs, events: count };
}

async function clearTable(kv: OrderedKv, table: number): Promise<void> {
  const iterator = kv.iterator({ gte: Buffer.of(table), lt: Buffer.of(table + 1) });
  try {
    for (;;) {
      const rows = await iterator.next(4096);
      if (rows.length === 0) return;
      kv.writeSync(
        rows.map(([key]) => ({ type: "del", key })),
        false,
      );
    }
  } finally {
    iterator.close();
  }
}
