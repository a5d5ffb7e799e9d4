// Purge: erases an agent (or a whole namespace) — state, history, indexes, idempotency keys —
// durably and crash-safely.
//
// 1. A purge intent (`01 str("purge-intent") u64(id)` → JSON {id, namespace, agentId, requestedAtMs})
//    is written with a synced write through the single writer; from then on every commit that
//    touches the target is refused inside its batch, and reads of the target answer as if it
//    were gone. At open, recovery's pending intents are finished before the engine serves, so a
//    purge is never half-visible, across a SIGKILL too.
// 2. The log keeps its commit_ts continuity: every event that touched the target is rewritten
//    in place without the target's operations and marked purged (`"p":1`); an event left with
//    no operations stays as the gap marker of its commit_ts (replay of other agents never sees
//    it; rollback detection still sees a gap-free log). The event's idempotency key goes too.
// 3. The target's agent-event, version and state entries (and, for a namespace, every
//    idempotency key of it) are deleted by key range, in batches through the single writer.
// 4. The intent is deleted (synced) and an audit line is logged: ids and counts, never data.
// Every step is idempotent, so resuming an interrupted purge simply runs it again.
import type { CommitRequest, CommitSequencer } from "./commit-sequencer.ts";
import { EngineError } from "./engine-error.ts";
import { decodeIdempotency, idempotencyScope } from "./index-entries.ts";
import {
  agentPrefix,
  decodeU64,
  eventKey,
  idempotencyExpiryKey,
  idempotencyKey,
  namespacePrefix,
  prefixEnd,
  PURGE_INTENT_PREFIX,
  purgeIntentKey,
  TABLE_AGENT_EVENT,
  TABLE_IDEMPOTENCY,
  TABLE_STATE,
  TABLE_VERSION,
  decodeString,
} from "./key-encoding.ts";
import { decodeEvent, encodeEvent, type StoredEvent } from "./record-codec.ts";
import type { RetentionTable } from "./retention.ts";
import type { KvOp, OrderedKv } from "./storage/ordered-kv.ts";
import type { EngineLogger, PurgeResult } from "./types.ts";
import type { Failpoints } from "./failpoints.ts";

export interface PurgeIntent {
  id: number;
  namespace: string;
  /** null: the whole namespace. */
  agentId: string | null;
  requestedAtMs: number;
}

const CHUNK = 256;
const DELETE_CHUNK = 1000;

export function intentOp(intent: PurgeIntent): KvOp {
  return { type: "put", key: purgeIntentKey(intent.id), value: Buffer.from(JSON.stringify(intent), "utf8") };
}

export async function loadPurgeIntents(kv: OrderedKv): Promise<PurgeIntent[]> {
  const out: PurgeIntent[] = [];
  const iterator = kv.iterator({ gte: PURGE_INTENT_PREFIX, lt: prefixEnd(PURGE_INTENT_PREFIX) });
  try {
    for (;;) {
      const rows = await iterator.next(CHUNK);
      if (rows.length === 0) return out;
      for (const [, value] of rows) out.push(JSON.parse(value.toString("utf8")) as PurgeIntent);
    }
  } finally {
    iterator.close();
  }
}

/** The highest intent id stored (0 when none). */
export function nextIntentId(intents: readonly PurgeIntent[], last: number): number {
  return Math.max(last, ...intents.map((i) => i.id)) + 1;
}

export function touches(intent: Pick<PurgeIntent, "namespace" | "agentId">, namespace: string, agentId: string): boolean {
  return intent.namespace === namespace && (intent.agentId === null || intent.agentId === agentId);
}

/** CONFLICT (retryable) for a commit that touches data being purged. */
export function refusal(intents: Iterable<PurgeIntent>, request: CommitRequest): EngineError | null {
  for (const intent of intents) {
    const refs = [...request.operations.map((op) => op.ref), ...request.preconditions.map((p) => p.ref)];
    const hit = refs.find((ref) => touches(intent, ref.namespace, ref.agentId));
    if (hit !== undefined) {
      return new EngineError("CONFLICT", `${hit.namespace}/${hit.agentId} is being purged; nothing was applied (retry once the purge finished)`, {
        details: { reason: "purge_in_progress", namespace: hit.namespace, agentId: hit.agentId },
      });
    }
  }
  return null;
}

function targetPrefix(table: number, intent: PurgeIntent): Buffer {
  return intent.agentId === null ? namespacePrefix(table, intent.namespace) : agentPrefix(table, intent.namespace, intent.agentId);
}

/** Runs (or resumes) one purge to completion; the intent must be durable already. */
export async function runPurge(
  kv: OrderedKv,
  sequencer: CommitSequencer,
  retention: RetentionTable,
  intent: PurgeIntent,
  failpoints: Failpoints,
  logger: EngineLogger | undefined,
): Promise<PurgeResult> {
  const started = performance.now();
  const result: PurgeResult = { purgeId: intent.id, eventsRewritten: 0, entriesDeleted: 0 };
  const rewrite = (timestamps: readonly number[]): Promise<void> =>
    sequencer.runExclusive(async () => {
      const { ops, rewritten } = await rewriteEvents(kv, intent, timestamps);
      if (ops.length > 0) await kv.write(ops, false);
      result.eventsRewritten += rewritten;
      failpoints.hit("purge:mid-purge");
    });
  // 1. Events the target's agent-event index points at.
  const agentEvents = targetPrefix(TABLE_AGENT_EVENT, intent);
  await forEachChunk(kv, agentEvents, prefixEnd(agentEvents), CHUNK, async (rows) => {
    await rewrite([...new Set(rows.map(([key]) => decodeU64(key, key.length - 8)))]);
  });
  // 1b. Events behind the namespace's retention horizon that the log still holds (their agent-event entries may be compacted).
  const horizon = retention.horizonOf(intent.namespace);
  if (horizon > retention.logFloor) {
    await forEachChunk(kv, eventKey(retention.logFloor + 1), eventKey(horizon + 1), CHUNK, async (rows) => {
      await rewrite(rows.map(([key]) => decodeU64(key, 1)));
    });
  }
  // 2. A namespace's remaining idempotency keys (an agent's went with its events).
  if (intent.agentId === null) {
    const prefix = namespacePrefix(TABLE_IDEMPOTENCY, intent.namespace);
    await forEachChunk(kv, prefix, prefixEnd(prefix), DELETE_CHUNK, async (rows) => {
      await sequencer.runExclusive(async () => {
        const ops: KvOp[] = [];
        for (const [key, value] of rows) {
          const ns = decodeString(key, 1);
          const name = decodeString(key, ns.next).value;
          ops.push({ type: "del", key }, { type: "del", key: idempotencyExpiryKey(decodeIdempotency(value).createdAtMs, ns.value, name) });
        }
        await kv.write(ops, false);
        result.entriesDeleted += rows.length;
      });
    });
  }
  // 3. The target's indexes and state, by key range.
  for (const table of [TABLE_AGENT_EVENT, TABLE_VERSION, TABLE_STATE]) {
    const prefix = targetPrefix(table, intent);
    await forEachChunk(kv, prefix, prefixEnd(prefix), DELETE_CHUNK, async (rows) => {
      await sequencer.runExclusive(async () => {
        await kv.write(
          rows.map(([key]) => ({ type: "del", key })),
          false,
        );
        result.entriesDeleted += rows.length;
        failpoints.hit("purge:mid-purge");
      });
    });
  }
  // 4. Done: the intent goes with a synced write (it makes every batch before it durable too).
  await sequencer.runExclusive(async () => {
    sequencer.dropCache();
    await kv.write([{ type: "del", key: purgeIntentKey(intent.id) }], true);
  });
  logger?.info(
    {
      audit: "purge",
      purgeId: intent.id,
      namespace: intent.namespace,
      agentId: intent.agentId,
      requestedAtMs: intent.requestedAtMs,
      eventsRewritten: result.eventsRewritten,
      entriesDeleted: result.entriesDeleted,
      durationMs: Math.round(performance.now() - started),
    },
    `purge ${intent.id} completed: ${intent.agentId === null ? `namespace ${JSON.stringify(intent.namespace)}` : `agent ${JSON.stringify(intent.agentId)} of namespace ${JSON.stringify(intent.namespace)}`}`,
  );
  return result;
}

/**
 * The log entries at these commit_ts without the target's operations (marked purged), and the
 * deletion of their idempotency keys. Events that no longer touch the target are left alone.
 */
async function rewriteEvents(kv: OrderedKv, intent: PurgeIntent, timestamps: readonly number[]): Promise<{ ops: KvOp[]; rewritten: number }> {
  const raws = await kv.getMany(timestamps.map((ts) => eventKey(ts)));
  const ops: KvOp[] = [];
  let rewritten = 0;
  for (const [i, ts] of timestamps.entries()) {
    const raw = raws[i];
    if (raw === undefined) continue; // compacted away everywhere: nothing left of it
    const event: StoredEvent = decodeEvent(raw, ts);
    const kept = event.operations.filter((op) => !touches(intent, op.namespace, op.agentId));
    if (kept.length === event.operations.length) continue;
    const encodable = kept.map((op) => ({ ...op, valueJson: op.value === null ? null : JSON.stringify(op.value) }));
    // A transaction erased whole loses its idempotency key (a retry applies again); one whose other
    // operations remain keeps it (it did happen; the key's record holds a hash, not the data).
    const erased = kept.length === 0 && event.idempotencyKey !== null;
    const ik = erased ? null : event.idempotencyKey;
    ops.push({ type: "put", key: eventKey(ts), value: encodeEvent(event.txnId, ts, event.committedAtMs, ik, encodable, true) });
    rewritten++;
    if (erased && event.idempotencyKey !== null) {
      const scope = idempotencyScope(event.operations);
      const key = idempotencyKey(scope, event.idempotencyKey);
      const [current] = await kv.getMany([key]);
      if (current !== undefined && decodeIdempotency(current).commitTs === ts) ops.push({ type: "del", key });
      ops.push({ type: "del", key: idempotencyExpiryKey(event.committedAtMs, scope, event.idempotencyKey) });
    }
  }
  return { ops, rewritten };
}

/**
 * Calls `each` with the entries of [gte, lt), `size` at a time. Each chunk is read by a fresh
 * iterator after the previous one was handled (deleted or rewritten), so writes never run
 * under an open iterator; the next chunk starts after the last key seen. Commits to the
 * target are refused meanwhile, so the range does not grow.
 */
async function forEachChunk(kv: OrderedKv, gte: Buffer, lt: Buffer, size: number, each: (rows: [Buffer, Buffer][]) => Promise<void>): Promise<void> {
  let from: { gte: Buffer } | { gt: Buffer } = { gte };
  for (;;) {
    const iterator = kv.iterator({ ...from, lt, limit: size });
    let rows;
    try {
      rows = await iterator.next(size);
    } finally {
      iterator.close();
    }
    if (rows.length === 0) return;
    await each(rows);
    if (rows.length < size) return;
    from = { gt: rows[rows.length - 1]?.[0] as Buffer };
  }
}
